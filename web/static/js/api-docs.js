// The API page: renders /api/openapi.json (this server's OpenAPI 3.1 document).
// Text only (textContent), nothing loaded from other servers.

import { $, h } from "./dom.js";

const METHODS = ["get", "post", "put", "patch", "delete", "options"];

/** A description as nodes: `code` spans (Markdown's backticks) become <code> elements,
 * the rest stays text. Text nodes only: nothing is parsed as HTML. An unmatched
 * backtick is kept as typed. */
function inline(text) {
  const parts = String(text || "").split("`");
  const nodes = [];
  parts.forEach((part, i) => {
    const closed = i % 2 === 1 && i < parts.length - 1;
    if (closed) nodes.push(h("code", {}, part));
    else if (i % 2 === 1) nodes.push(`\`${part}`);
    else if (part) nodes.push(part);
  });
  return nodes;
}

function refName(ref) {
  return ref.split("/").pop();
}

// A schema as indented JSON, with each "$ref" turned into a link to its schema.
function schemaBlock(schema) {
  const pre = h("pre", {});
  const text = JSON.stringify(schema, null, 2);
  const re = /"\$ref": "([^"]+)"/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    pre.append(text.slice(last, m.index));
    const name = refName(m[1]);
    pre.append(h("a", { href: `#schema-${name}` }, `"$ref": "${m[1]}"`));
    last = m.index + m[0].length;
  }
  pre.append(text.slice(last));
  return pre;
}

function table(head, rows) {
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, ...head.map((t) => h("th", { scope: "col" }, t)))),
    // data-label: the column's name, shown above each cell where the rows stack (phones)
    h("tbody", {}, ...rows.map((cells) => h("tr", {}, ...cells.map((c, i) => h("td", { "data-label": head[i] }, c))))),
  );
}

function contentOf(content) {
  if (!content) return "—";
  const parts = [];
  for (const [media, body] of Object.entries(content)) {
    parts.push(h("div", { class: "tag" }, media));
    if (body.schema) parts.push(schemaBlock(body.schema));
  }
  return h("div", {}, ...parts);
}

function operation(path, method, op, id) {
  const security = (op.security || []).map((s) => Object.keys(s)[0]);
  const parts = [
    h("h3", { id }, h("span", { class: "api-method" }, method.toUpperCase()), path),
    h("p", {}, inline(op.summary)),
  ];
  if (op.description) parts.push(h("p", { class: "muted" }, inline(op.description)));
  parts.push(h("p", { class: "tag" }, security.length ? `Bearer token: ${security.join(" or ")}` : "No token"));
  if (op.parameters) {
    parts.push(
      table(
        ["parameter", "in", "schema", "description"],
        op.parameters.map((p) => [p.name, p.in, JSON.stringify(p.schema), inline(p.description)]),
      ),
    );
  }
  if (op.requestBody) {
    parts.push(h("h4", {}, "Request body"), contentOf(op.requestBody.content));
    if (op.requestBody.description) parts.push(h("p", { class: "muted" }, inline(op.requestBody.description)));
  }
  const responses = Object.entries(op.responses || {}).map(([status, r]) => [
    status,
    h("div", {}, inline(r.description), r.headers ? h("div", { class: "tag" }, `headers: ${Object.keys(r.headers).join(", ")}`) : ""),
    contentOf(r.content),
  ]);
  parts.push(h("h4", {}, "Responses"), table(["status", "meaning", "body"], responses));
  return h("section", { class: "api-op" }, ...parts);
}

async function main() {
  const response = await fetch("/api/openapi.json");
  const spec = await response.json();
  $("#api-title").textContent = `${spec.info.title} ${spec.info.version}`;
  $("#api-intro").append(" ", ...inline(spec.info.description));
  const index = $("#api-index");
  const ops = $("#api-operations");
  let n = 0;
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of METHODS) {
      if (!item[method]) continue;
      const id = `op-${item[method].operationId || n}`;
      n += 1;
      index.append(h("li", {}, h("a", { href: `#${id}` }, `${method.toUpperCase()} ${path}`)));
      ops.append(operation(path, method, item[method], id));
    }
  }
  const schemas = $("#api-schemas");
  for (const [name, schema] of Object.entries(spec.components.schemas || {})) {
    schemas.append(h("section", { class: "api-op" }, h("h3", { id: `schema-${name}` }, name), schemaBlock(schema)));
  }
}

main();
