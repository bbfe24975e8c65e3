// The host studio /studio/<room>#token=<host token>.
//
// The token is read from the address fragment once, kept in sessionStorage (this tab
// only) and removed from the address bar. The WebSocket joins with ?token= as host.

import { api, saveBlob } from "./api.js";
import { RoomConnection } from "./conn.js";
import { $, h, icon, replace } from "./dom.js";
import { count, money, roomFromPath } from "./format.js";
import { RoomModel } from "./model.js";
import { Broadcast } from "./studio-broadcast.js";
import { ChatDesk, ExplainQueue } from "./studio-chat.js";
import { Figures } from "./studio-figures.js";
import { Lineup } from "./studio-lineup.js";
import { say } from "./words.js";

const room = roomFromPath();
const tokenKey = `livecart:host:${room}`;

function takeToken() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const fromHash = hash.get("token");
  if (fromHash) {
    try {
      sessionStorage.setItem(tokenKey, fromHash);
    } catch (_) {
      // kept in memory only
    }
    history.replaceState(null, "", location.pathname + location.search);
    return fromHash;
  }
  try {
    return sessionStorage.getItem(tokenKey) || "";
  } catch (_) {
    return "";
  }
}

function showSignin(message) {
  $("#studio").hidden = true;
  const box = $("#signin");
  const token = h("input", { class: "field", id: "signin-token", type: "password", placeholder: "host_…", autocomplete: "off", "aria-label": "Host token" });
  const error = h("p", { class: "form-error", role: "alert", text: message || "" });
  const form = h(
    "form",
    { class: "signin-card card" },
    h("img", { src: "/static/img/icon.svg", alt: "", width: "44", height: "44" }),
    h("h1", {}, "Host studio"),
    h("p", { class: "muted" }, "Room ", h("b", { text: room }), ". Paste the host token you got when the room was created."),
    token,
    error,
    h("button", { class: "btn btn-primary btn-lg btn-block", type: "submit" }, "Open the studio"),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!token.value.trim()) return;
    location.hash = `token=${encodeURIComponent(token.value.trim())}`;
    location.reload();
  });
  replace(box, form);
  box.hidden = false;
}

function confirmDialog(title, text, action) {
  const dialog = $("#confirm");
  return new Promise((resolve) => {
    const cancel = h("button", { class: "btn", type: "button", value: "cancel" }, "Cancel");
    const ok = h("button", { class: "btn btn-danger-solid", type: "button", id: "confirm-ok" }, action);
    const done = (value) => {
      dialog.close();
      resolve(value);
    };
    cancel.addEventListener("click", () => done(false));
    ok.addEventListener("click", () => done(true));
    dialog.addEventListener("cancel", () => resolve(false), { once: true });
    replace(dialog, h("h2", {}, title), h("p", { class: "muted" }, text), h("div", { class: "form-actions" }, cancel, ok));
    dialog.showModal();
  });
}

function main() {
  if (!room) {
    showSignin("No room in the address.");
    return;
  }
  const token = takeToken();
  if (!token) {
    showSignin("");
    return;
  }
  $("#studio").hidden = false;
  const model = new RoomModel();
  const conn = new RoomConnection(room, { token });
  const broadcast = new Broadcast($("#broadcast"), room, token);
  const lineup = new Lineup($("#lineup"), $("#sale"), model, conn);
  const queue = new ExplainQueue($("#queue"), model, conn);
  const desk = new ChatDesk($("#chat-desk"), model, conn);
  const figures = new Figures($("#figures"), room, token, model, (stock) => lineup.setStock(stock));
  let ended = null; // the end-of-show result, once ended here

  // -- header ------------------------------------------------------------------------
  const goLive = h("button", { class: "btn btn-primary", type: "button", id: "go-live" }, icon("camera", 16), "Go live");
  const endShow = h("button", { class: "btn btn-danger", type: "button", id: "end-show" }, "End show");
  const viewerLink = h("a", { class: "btn btn-ghost", href: `/live/${encodeURIComponent(room)}`, target: "_blank", rel: "noopener" }, "Viewer page ↗");
  const viewers = h("span", { class: "bar-viewers" });
  replace($("#bar-actions"), viewers, viewerLink, goLive, endShow);

  function renderBar() {
    const r = model.room;
    $("#room-title").textContent = r.title || room;
    document.title = `Studio · ${r.title || room}`;
    const badge = $("#room-status");
    badge.textContent = { live: "Live", scheduled: "Not live", ended: "Ended" }[r.status] || r.status;
    badge.className = `badge badge-${r.status}`;
    viewers.replaceChildren(icon("eye", 15), document.createTextNode(` ${count(model.live.viewers || 0)} watching`));
    const state = broadcast.state;
    const onAir = state === "live" || state === "starting" || state === "reconnecting";
    goLive.hidden = onAir;
    goLive.classList.toggle("busy", state === "starting");
    endShow.hidden = r.status === "ended" && !onAir;
    const conn_ = $("#bar-conn");
    conn_.hidden = conn.status === "open";
    conn_.textContent = conn.status === "retrying" ? "Connection lost, retrying…" : conn.status === "connecting" ? "Connecting…" : "";
  }

  goLive.addEventListener("click", async () => {
    goLive.disabled = true;
    await broadcast.goLive();
    goLive.disabled = false;
    renderBar();
  });
  endShow.addEventListener("click", async () => {
    const yes = await confirmDialog(
      "End the show?",
      "Viewers see that the show ended, open sales close, and the orders are exported.",
      "End show",
    );
    if (!yes) return;
    endShow.classList.add("busy");
    await broadcast.stop();
    try {
      ended = await api(`/api/rooms/${encodeURIComponent(room)}/end`, { token, method: "POST" });
      renderEnd();
    } catch (err) {
      renderEnd(say(err.error || err));
    } finally {
      endShow.classList.remove("busy");
      renderBar();
    }
  });
  broadcast.addEventListener("state", renderBar);

  // -- end of show: CSV and webhook --------------------------------------------------
  const endCard = $("#end-card");
  let webhookTimer = null;

  async function downloadCsv(button, error) {
    button.classList.add("busy");
    error.textContent = "";
    try {
      const res = await api(`/api/rooms/${encodeURIComponent(room)}/orders.csv`, { token, raw: true });
      saveBlob(await res.blob(), `${room}-orders.csv`);
    } catch (err) {
      error.textContent = `Download failed: ${say(err.error || err)}`;
    } finally {
      button.classList.remove("busy");
    }
  }

  function webhookText(status, configured) {
    if (!configured) return "No fulfilment webhook is configured: download the CSV.";
    if (!status) return "Fulfilment webhook: waiting to start…";
    if (status.delivered) return `Fulfilment webhook: delivered (${status.orders} orders, ${status.batches_delivered}/${status.batches} batches).`;
    const err = status.last_error ? ` Last error: ${status.last_error}.` : "";
    return `Fulfilment webhook: sending, attempt ${status.attempts || 0}, ${status.batches_delivered || 0}/${status.batches || "?"} batches.${err}`;
  }

  async function pollWebhook(line) {
    clearTimeout(webhookTimer);
    try {
      const data = await api(`/api/rooms/${encodeURIComponent(room)}/fulfilment`, { token });
      line.textContent = webhookText(data.webhook, data.configured);
      line.dataset.delivered = String(Boolean(data.webhook && data.webhook.delivered));
      if (data.configured && !(data.webhook && data.webhook.delivered)) {
        webhookTimer = setTimeout(() => pollWebhook(line), 3000);
      }
    } catch (_) {
      webhookTimer = setTimeout(() => pollWebhook(line), 5000);
    }
  }

  function renderEnd(problem) {
    const error = h("p", { class: "form-error", role: "alert", text: problem || "" });
    const csv = h("button", { class: "btn btn-primary", type: "button", id: "download-csv" }, icon("download", 16), "Download orders (CSV)");
    csv.addEventListener("click", () => downloadCsv(csv, error));
    const webhook = h("p", { class: "webhook-line", id: "webhook-status" }, "Fulfilment webhook: checking…");
    const f = ended && ended.figures;
    const revenue = f ? Object.entries(f.revenue || {}).map(([c, v]) => money(v, c)).join(" + ") || money(0, "USD") : "";
    replace(
      endCard,
      h("div", { class: "card-head" }, h("h2", {}, "Show ended"), h("span", { class: "badge badge-ended" }, "Ended")),
      f
        ? h(
            "div",
            { class: "end-summary" },
            h("div", {}, h("b", {}, String(f.orders)), h("span", { class: "faint" }, " orders")),
            h("div", {}, h("b", {}, String(f.units_sold)), h("span", { class: "faint" }, " units")),
            h("div", {}, h("b", {}, revenue), h("span", { class: "faint" }, " revenue")),
          )
        : h("p", { class: "muted" }, "The show is over. The orders stay available here."),
      h("div", { class: "form-actions start" }, csv),
      error,
      webhook,
    );
    endCard.hidden = false;
    pollWebhook(webhook);
  }

  // -- the room's stream of events ---------------------------------------------------
  conn.addEventListener("frame", (ev) => {
    const changes = model.applyFrame(ev.detail);
    if (changes.reset) {
      desk.reset();
      lineup.render();
      if (model.room.status === "ended" && endCard.hidden) renderEnd();
    } else {
      if (changes.chat.length) desk.add(changes.chat);
      if (changes.deleted.length) desk.remove(changes.deleted);
      if (changes.moderation.length) desk.moderation();
      if (changes.room) desk.renderSettings();
      if ((changes.products || changes.lineup || changes.pin || changes.sales) && lineup.editing === null) lineup.render();
      else if (changes.pin || changes.sales || changes.products) lineup.renderSale();
      if (changes.room && model.room.status === "live" && !endCard.hidden && !ended) endCard.hidden = true;
    }
    queue.render();
    figures.render();
    renderBar();
  });
  conn.addEventListener("status", () => {
    if (conn.status === "closed" && conn.closeCode === 4001) {
      try {
        sessionStorage.removeItem(tokenKey);
      } catch (_) {
        // nothing kept
      }
      showSignin("That host token doesn't open this room.");
      return;
    }
    if (conn.status === "closed" && conn.closeCode === 4004) {
      showSignin("There is no room with this id.");
      return;
    }
    renderBar();
  });

  // Chat as the room's host name (the connection's name is what viewers see).
  api(`/api/rooms/${encodeURIComponent(room)}`)
    .then((data) => {
      conn.name = (data.room && data.room.host) || "";
    })
    .catch(() => {})
    .finally(() => conn.start());
  broadcast.start();
  figures.start();
  renderBar();
  window.livecart = { conn, model, broadcast, lineup, figures };
}

main();
