// The replay of a past show, /replay/<room>/<show>: the recording plays, the lineup lists
// each product's chapters ("explained at 12:34", a tap seeks there), the pinned product,
// its price and stock label follow the video position as they were live, the chat
// replays at its moments (deleted messages stay deleted), and the viewer buys at the
// product's list price through the room's checkout (channel "replay").

import { CommandError, RoomConnection } from "./conn.js";
import { $, h, icon, replace, thumb } from "./dom.js";
import { money, newKey } from "./format.js";
import { langPicker, msg, onLangChange, t } from "./i18n.js";
import { SegmentPlayer } from "./segment-player.js";
import { closeSheet, openSheet, setupSheets } from "./sheets.js";

const WINDOW = 60; // seconds of events fetched at a time
const MAX_CHAT_NODES = 120;
const TEST_CARD = "4242 4242 4242 4242";

const parts = location.pathname.split("/").filter(Boolean);
const room = decodeURIComponent(parts[1] || "");
const show = decodeURIComponent(parts[2] || "");
const api = `/api/rooms/${encodeURIComponent(room)}/shows/${encodeURIComponent(show)}`;
const app = $("#app");
const video = $("#video");
const chatEl = $("#chat");
const pinnedEl = $("#pinned");

let detail = null;
let player = null;
let win = null; // {from, to, state, events}
let loading = null;
let shownChat = -1; // index in win.events of the last chat node shown
let pinnedSig = "";
let conn = null;
let roomInfo = { title: "", host: "" };
let salesNow = {}; // the room's sales now: a sale the host opened for the replay sets the price

/** Media time as the host saw it since the show's first frame: "12:34" or "1:02:03". */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hms = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const pad = (n) => String(n).padStart(2, "0");
  return hms[0] ? `${hms[0]}:${pad(hms[1])}:${pad(hms[2])}` : `${hms[1]}:${pad(hms[2])}`;
}

// -- top bar ------------------------------------------------------------------------------

function renderTop() {
  replace(
    $("#topbar"),
    h("a", { class: "icon-btn back", href: "/", "aria-label": msg("common.all_shows") }, icon("back")),
    h(
      "div",
      { class: "top-text" },
      h("div", { class: "top-title", text: roomInfo.title || room }),
      h("div", { class: "top-host", text: roomInfo.host ? t("common.with_host", { host: roomInfo.host }) : t("replay.title") }),
    ),
    h("div", { class: "top-right" }, langPicker(h), h("span", { class: "badge badge-ended" }, msg("replay.badge"))),
  );
}

function setState(state) {
  app.dataset.state = state;
  const card = $("#state-card");
  const views = {
    loading: [h("div", { class: "spinner", role: "img", "aria-label": msg("common.loading") })],
    missing: [h("h2", {}, msg("replay.missing")), h("p", { class: "muted" }, msg("replay.missing_text")), h("a", { class: "btn", href: "/" }, msg("live.other_shows"))],
    playing: [],
  };
  replace(card, views[state] || []);
  card.hidden = state === "playing";
}

// -- the events of the position ------------------------------------------------------------

async function loadWindow(from) {
  const to = from + WINDOW;
  const res = await fetch(`${api}/events?from=${from.toFixed(3)}&to=${to.toFixed(3)}`, { cache: "no-store" });
  if (!res.ok) throw new Error(String(res.status));
  return res.json();
}

function ensureWindow(pos) {
  if (loading) return;
  const inside = win && pos >= win.from && pos < win.to - 5;
  if (inside) return;
  const from = win && pos >= win.from && pos < win.to ? Math.max(win.from, pos - 5) : Math.max(0, pos - 1);
  loading = loadWindow(from)
    .then((w) => {
      const seekedBack = !win || from < win.from || from >= win.to;
      win = w;
      if (seekedBack) {
        replace(chatEl);
        shownChat = -1;
      } else {
        shownChat = -1;
        const shownIds = new Set([...chatEl.children].map((n) => Number(n.dataset.id)));
        w.events.forEach((e, i) => {
          if (e.type === "chat" && shownIds.has(e.id)) shownChat = i;
        });
      }
      render();
    })
    .catch(() => {})
    .finally(() => {
      loading = null;
    });
}

function stateAt(pos) {
  const state = { pinned: null, products: {}, sales: {}, ...(win ? win.state : {}) };
  state.products = { ...detail.products, ...(state.products || {}) };
  state.sales = { ...(state.sales || {}) };
  if (!win) return state;
  for (const e of win.events) {
    if (e.at > pos) break;
    if (e.type === "pin") state.pinned = e.product_id;
    else if (e.type === "product") state.products[e.product.id] = e.product;
    else if (e.type === "sale") {
      if (e.sale) state.sales[e.product_id] = e.sale;
      else delete state.sales[e.product_id];
    } else if (e.type === "stock") {
      // sampled units left (as the live stock label showed them)
      for (const [pid, n] of Object.entries(e.stock || {})) {
        if (state.sales[pid]) state.sales[pid] = { ...state.sales[pid], units_left: n };
      }
    }
  }
  return state;
}

function render() {
  if (!detail) return;
  const pos = video.currentTime;
  ensureWindow(pos);
  renderPinned(stateAt(pos));
  renderChat(pos);
}

function renderChat(pos) {
  if (!win) return;
  const nodes = [];
  let i = shownChat + 1;
  for (; i < win.events.length; i++) {
    const e = win.events[i];
    if (e.at > pos) break;
    if (e.type !== "chat") continue;
    nodes.push(
      h(
        "div",
        { class: `msg${e.user && e.user.role === "host" ? " host" : ""}`, dataset: { id: String(e.id), at: String(e.at) } },
        h("span", { class: "msg-name", text: (e.user && e.user.name) || t("common.guest") }),
        h("span", { class: "msg-text", text: e.text }),
      ),
    );
  }
  shownChat = i - 1;
  if (!nodes.length) return;
  chatEl.append(...nodes);
  while (chatEl.childElementCount > MAX_CHAT_NODES) chatEl.firstElementChild.remove();
  chatEl.scrollTop = chatEl.scrollHeight;
}

function stockNote(sale) {
  if (!sale) return "";
  if (sale.state === "closed") return t("shop.ended"); // no units left to count any more
  if (sale.units_left === 0) return t("shop.sold_out");
  return typeof sale.units_left === "number" ? t("shop.left", { n: sale.units_left }) : "";
}

/** What a buyer pays now: an open sale's price, else the list price. */
function priceNow(pid, product) {
  const sale = salesNow[pid];
  if (sale && sale.state === "open") return { price: sale.price, currency: sale.currency };
  return { price: product.price, currency: product.currency };
}

function renderPinned(state) {
  const pid = state.pinned;
  const product = pid ? state.products[pid] : null;
  const note = product ? stockNote(state.sales[pid]) : "";
  const now = product ? priceNow(pid, product) : null;
  const sig = product ? `${pid}|${product.name}|${now.price}|${note}` : "";
  if (sig === pinnedSig) return;
  pinnedSig = sig;
  pinnedEl.hidden = !product;
  pinnedEl.dataset.product = pid || "";
  if (!product) {
    replace(pinnedEl);
    return;
  }
  replace(
    pinnedEl,
    thumb(product.image_url, product.name, "thumb pin-thumb"),
    h(
      "div",
      { class: "pin-body" },
      h("div", { class: "pin-name", text: product.name }),
      h("div", { class: "pin-price" }, h("span", { class: "price", text: money(now.price, now.currency) })),
      h("span", { class: "pin-note", text: note }),
    ),
    h("button", { class: "btn btn-primary buy-btn", type: "button", id: "pinned-buy", text: msg("shop.buy"), "aria-label": msg("shop.buy_label", { label: msg("shop.buy"), product: product.name }), onclick: () => checkout(pid) }),
  );
}

// -- lineup and chapters ----------------------------------------------------------------------

function openLineup() {
  const sheet = $("#lineup-sheet");
  const byProduct = new Map();
  for (const c of detail.chapters) {
    if (!byProduct.has(c.product_id)) byProduct.set(c.product_id, []);
    byProduct.get(c.product_id).push(c);
  }
  const rows = detail.lineup.map((pid) => {
    const product = detail.products[pid] || { name: pid };
    const chapters = byProduct.get(pid) || [];
    return h(
      "li",
      { class: "chapter-row", dataset: { product: pid } },
      h(
        "div",
        { class: "chapter-body" },
        h("div", { class: "chapter-name", text: product.name }),
        h("div", { class: "muted", text: product.price !== undefined ? money(priceNow(pid, product).price, priceNow(pid, product).currency) : "" }),
        h(
          "div",
          { class: "chapter-jumps" },
          ...chapters.map((c) =>
            h("button", {
              class: "btn btn-sm chapter-jump",
              type: "button",
              dataset: { at: String(c.at), n: String(c.n) },
              text: msg("replay.explained_at", { time: clock(c.at - detail.first) }),
              onclick: () => {
                closeSheet();
                seek(c.at);
              },
            }),
          ),
        ),
      ),
      h("button", { class: "btn btn-sm btn-primary", type: "button", text: msg("shop.buy"), onclick: () => checkout(pid) }),
    );
  });
  replace(
    sheet,
    h("div", { class: "sheet-grip", "aria-hidden": "true" }),
    h("header", { class: "sheet-head" }, h("h2", { id: "lineup-title" }, msg("shop.lineup_title")), h("button", { class: "icon-btn", type: "button", "aria-label": msg("common.close"), onclick: closeSheet }, icon("close"))),
    h("p", { class: "sheet-sub muted" }, msg("replay.lineup_text")),
    h("ul", { class: "chapter-list", id: "chapters" }, ...rows),
  );
  openSheet(sheet);
}

function seek(at) {
  win = null;
  pinnedSig = "";
  replace(chatEl);
  shownChat = -1;
  player.seek(at + 0.05);
  video.play().catch(() => {});
  render();
}

// -- buying from the replay ---------------------------------------------------------------------

// The room's WebSocket carries the buy and pay commands; opened at the first tap on Buy.
function connection() {
  if (!conn) {
    conn = new RoomConnection(room, { name: "" });
    conn.start();
  }
  if (conn.status === "open") return Promise.resolve(conn);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(t("replay.offline"))), 10_000);
    const onStatus = () => {
      if (conn.status !== "open") return;
      clearTimeout(timer);
      conn.removeEventListener("status", onStatus);
      resolve(conn);
    };
    conn.addEventListener("status", onStatus);
  });
}

function checkout(pid) {
  const product = detail.products[pid] || stateAt(video.currentTime).products[pid];
  if (!product) return;
  const attempt = { buyKey: newKey(), payKey: newKey(), reservation: null };
  const now = priceNow(pid, product);
  const sheet = $("#checkout-sheet");
  const card = h("input", { class: "field card-input", id: "card-number", inputmode: "numeric", autocomplete: "off", "aria-label": msg("shop.card_number"), value: TEST_CARD });
  const error = h("p", { class: "form-error", role: "alert", id: "checkout-error" });
  const pay = h("button", { class: "btn btn-primary btn-lg btn-block", type: "button", id: "pay-btn", text: t("shop.pay", { total: money(now.price, now.currency) }) });
  const body = h("div", { class: "checkout-body" });
  pay.addEventListener("click", async () => {
    pay.disabled = true;
    error.textContent = "";
    try {
      const c = await connection();
      if (!attempt.reservation) {
        pay.textContent = t("shop.reserving");
        const data = await c.command("buy", { product_id: pid, qty: 1, key: attempt.buyKey, channel: "replay" });
        attempt.reservation = data.reservation;
      }
      pay.textContent = t("shop.paying");
      const data = await c.command("pay", { reservation_id: attempt.reservation.id, card: card.value.replace(/[\s-]/g, ""), key: attempt.payKey });
      replace(body, h("div", { class: "order-done", id: "order-done", dataset: { order: data.order.id } }, h("h3", {}, msg("shop.order_placed")), h("p", { class: "muted" }, msg("shop.qty_of", { n: data.order.qty, product: product.name })), h("p", { class: "muted" }, msg("shop.sandbox_order"))));
    } catch (err) {
      error.textContent = err instanceof CommandError ? err.message : String(err);
      pay.disabled = false;
      pay.textContent = t("shop.try_again");
      if (err instanceof CommandError && ["sold_out", "limit_reached", "not_found"].includes(err.code)) pay.disabled = true;
    }
  });
  replace(
    body,
    h("div", { class: "checkout-line" }, h("span", { text: product.name }), h("span", { class: "replay-price", text: money(now.price, now.currency) })),
    h("label", { class: "lbl", for: "card-number" }, msg("shop.card"), card, h("span", { class: "sandbox-note" }, icon("info", 14), msg("shop.sandbox"))),
    error,
    pay,
  );
  replace(
    sheet,
    h("div", { class: "sheet-grip", "aria-hidden": "true" }),
    h("header", { class: "sheet-head" }, h("h2", { id: "checkout-title" }, msg("shop.checkout")), h("button", { class: "icon-btn", type: "button", "aria-label": msg("common.close"), onclick: closeSheet }, icon("close"))),
    body,
  );
  openSheet(sheet);
}

// -- start ------------------------------------------------------------------------------------------

async function start() {
  renderTop();
  fetch(`/api/rooms/${encodeURIComponent(room)}`)
    .then((r) => (r.ok ? r.json() : null))
    .then((data) => {
      if (!data || !data.room) return;
      roomInfo = data.room;
      salesNow = data.sales || {};
      document.title = `${roomInfo.title || room} · ${t("replay.title")} · livecart`;
      renderTop();
    })
    .catch(() => {});
  setState("loading");
  const res = await fetch(api, { cache: "no-store" });
  if (!res.ok) {
    setState("missing");
    return;
  }
  detail = await res.json();
  window.replay = { detail, clock }; // for people and tests poking at the page
  const inits = detail.inits || {};
  const last = inits[Object.keys(inits).sort((a, b) => Number(a) - Number(b)).pop()] || {};
  player = new SegmentPlayer(video, { base: detail.base, segments: detail.segments, codec: last.codec || "avc1.42e01f", audio: detail.audio, hls: detail.playlist });
  player.start();
  video.addEventListener("timeupdate", render);
  video.addEventListener("seeked", render);
  video.addEventListener("playing", () => setState("playing"), { once: true });
  video.play().catch(() => {});
  fetch(`${api}/views`, { method: "POST" }).catch(() => {});
  const at = Number(new URLSearchParams(location.search).get("t"));
  if (Number.isFinite(at) && at > 0) seek(detail.first + at);
}

$("#bag-btn").addEventListener("click", () => detail && openLineup());
setupSheets();
onLangChange(() => {
  renderTop();
  pinnedSig = "";
  render();
});
start();
