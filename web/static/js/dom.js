// Small DOM helpers. Text always goes in as text nodes: nothing here parses HTML.
//
//   h("button", { class: "btn", onclick: go, disabled: true }, "Buy ", h("b", {}, price))
//
// Props: `class`, `text`, `dataset` (object), `style` (object), `on<event>` (listener),
// boolean DOM properties (`disabled`, `hidden`, `checked`...), anything else is an
// attribute set with setAttribute (never an `on...` handler string). A `Msg` (i18n.js
// `msg(key)`) as a child or an attribute's value stays in the page's language.

import { Msg, bind } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

export function setProps(el, props) {
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) {
      if (name in el && typeof el[name] === "boolean") el[name] = false;
      continue;
    }
    if (name === "class") el.className = value;
    else if (name === "text" && value instanceof Msg) {
      el.replaceChildren(msgNode(value));
    } else if (name === "text") el.textContent = String(value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "style") Object.assign(el.style, value);
    else if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name.startsWith("on")) {
      throw new Error(`refusing handler string for ${name}`);
    } else if (typeof value === "boolean" || name === "value") el[name] = value;
    else {
      el.setAttribute(name, String(value));
      if (value instanceof Msg) bind(el, value, name);
    }
  }
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    if (child instanceof Msg) el.append(msgNode(child));
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function msgNode(m) {
  const node = document.createTextNode(String(m));
  bind(node, m);
  return node;
}

/** Replace every child of `el` with `children`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export const $ = (selector, root = document) => root.querySelector(selector);

// Icons: fixed path data, 24x24, drawn with currentColor.
const ICONS = {
  heart:
    "M12 21s-6.7-4.3-9.3-8.5C.9 9.6 2.1 5.6 5.6 4.6c2.2-.6 4.4.4 5.6 2.2l.8 1.1.8-1.1c1.2-1.8 3.4-2.8 5.6-2.2 3.5 1 4.7 5 2.9 7.9C18.7 16.7 12 21 12 21z",
  bag: "M6 8h12l-1 12H7L6 8zm3 0V6a3 3 0 0 1 6 0v2",
  eye: "M2 12s3.6-7 10-7 10 7 10 7-3.6 7-10 7S2 12 2 12zm10 3a3 3 0 1 0 0-6 3 3 0 0 0 0 6z",
  close: "M6 6l12 12M18 6L6 18",
  send: "M4 12l16-8-6 16-2-7-8-1z",
  sound: "M4 9h4l5-4v14l-5-4H4V9zm13 0a4 4 0 0 1 0 6m2-9a8 8 0 0 1 0 12",
  mute: "M4 9h4l5-4v14l-5-4H4V9zm12 1l5 5m0-5l-5 5",
  up: "M12 5v14M6 11l6-6 6 6",
  down: "M12 19V5M6 13l6 6 6-6",
  pin: "M9 4h6l-1 6 3 3H7l3-3-1-6zm3 9v7",
  trash: "M5 7h14M10 7V5h4v2m-7 0l1 12h8l1-12",
  mic: "M12 3a3 3 0 0 1 3 3v6a3 3 0 0 1-6 0V6a3 3 0 0 1 3-3zm-6 9a6 6 0 0 0 12 0M12 18v3",
  camera: "M3 7h4l2-3h6l2 3h4v12H3V7zm9 10a4 4 0 1 0 0-8 4 4 0 0 0 0 8z",
  check: "M5 12l5 5 9-10",
  bolt: "M13 2L4 14h7l-1 8 9-12h-7l1-8z",
  chat: "M4 5h16v11H9l-5 4V5z",
  download: "M12 4v11m-5-5l5 5 5-5M5 20h14",
  edit: "M4 20h4L19 9l-4-4L4 16v4z",
  ban: "M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zM5.6 5.6l12.8 12.8",
  hush: "M4 5h16v11H9l-5 4V5zm4 5h8",
  info: "M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zm0 8v6m0-9v.5",
  wifi: "M2 9a15 15 0 0 1 20 0M5 12.5a10 10 0 0 1 14 0M8.5 16a5 5 0 0 1 7 0M12 19.5v.01",
  back: "M15 5l-7 7 7 7",
  clock: "M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zm0 4v5l3 2",
};

const FILLED = new Set(["heart"]);

export function icon(name, size = 20) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", String(size));
  svg.setAttribute("height", String(size));
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add("icon");
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", ICONS[name] || ICONS.info);
  if (FILLED.has(name)) {
    path.setAttribute("fill", "currentColor");
  } else {
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "2");
    path.setAttribute("stroke-linecap", "round");
    path.setAttribute("stroke-linejoin", "round");
  }
  svg.append(path);
  return svg;
}

/** An <img> that shows `fallback` text (e.g. an initial) when the picture fails to load. */
export function thumb(url, label, className = "thumb") {
  const box = h("div", { class: className });
  const initial = h("span", { class: "thumb-initial", text: (label || "?").trim().charAt(0) });
  box.append(initial);
  if (url) {
    const img = h("img", { alt: "", loading: "lazy", decoding: "async", referrerpolicy: "no-referrer" });
    img.addEventListener("load", () => box.classList.add("has-img"));
    img.addEventListener("error", () => img.remove());
    img.src = url;
    box.append(img);
  }
  return box;
}
