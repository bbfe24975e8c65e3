// The viewer room /live/<room>: the stream full screen, chat over it, hearts, the
// pinned product and checkout in the stream.

import { LivePlayer } from "/static/streamer/player.js";
import { RoomConnection } from "./conn.js";
import { $, h, icon, replace } from "./dom.js";
import { count, firstGrapheme, money, roomFromPath } from "./format.js";
import { HlsPlayer, needsHls } from "./hls-fallback.js";
import { HlsLivePlayer } from "./hls-live.js";
import { langPicker, msg, onLangChange, setRoomDefault, t } from "./i18n.js";
import { AuctionPanel } from "./live-auction.js";
import { Shop } from "./live-shop.js";
import { RoomModel } from "./model.js";
import { closeSheet, openSheet, setupSheets } from "./sheets.js";
import { VideoClock } from "./video-clock.js";
import { say } from "./words.js";

const NAME_KEY = "livecart:name";
const MAX_CHAT_NODES = 120;

const room = roomFromPath();
const app = $("#app");
const video = $("#video");
const chatEl = $("#chat");
const input = $("#chat-input");
const note = $("#composer-note");
const model = new RoomModel();
const conn = new RoomConnection(room, { name: readName() });
// The low-latency WebSocket video, or HLS: natively where there is no MediaSource
// (iPhone Safari), through MSE with ?hls=1 (the CDN path). HLS runs seconds behind, so
// its viewers get the room's events when the picture reaches them (video-clock.js).
const forceHls = new URLSearchParams(location.search).get("hls") === "1" && "MediaSource" in window;
const player = needsHls(video)
  ? new HlsPlayer(video, `/hls/${encodeURIComponent(room)}/index.m3u8`)
  : forceHls
    ? new HlsLivePlayer(video, `/hls/${encodeURIComponent(room)}/`)
    : new LivePlayer(video, `/ws/video/${encodeURIComponent(room)}`);
const shop = new Shop(model, conn, toast, announce);
const lots = new AuctionPanel(model, conn, toast, announce);
shop.onOrder = () => lots.markBought();
const reducedMotion = matchMedia("(prefers-reduced-motion: reduce)");
let playerStatus = "connecting";
let videoPlaying = false;

function readName() {
  try {
    return localStorage.getItem(NAME_KEY) || "";
  } catch (_) {
    return "";
  }
}

// -- top bar and the big state card -----------------------------------------------------

const top = {
  avatar: h("div", { class: "avatar" }),
  title: h("div", { class: "top-title" }),
  host: h("span", { class: "top-host" }),
  status: h("span", { class: "badge" }),
  viewers: h("span", { class: "viewers" }),
};
// The title gets the width of the bar: the status and the viewer count sit on the
// host's line under it, the language menu alone on the right.
replace(
  $("#topbar"),
  h("a", { class: "icon-btn back", href: "/", "aria-label": msg("common.all_shows") }, icon("back")),
  top.avatar,
  h(
    "div",
    { class: "top-text" },
    top.title,
    h("div", { class: "top-meta" }, top.host, top.status, h("span", { class: "viewer-pill" }, icon("eye", 15), top.viewers)),
  ),
  h("div", { class: "top-right" }, langPicker(h)),
);

function renderTop() {
  const r = model.room;
  top.avatar.textContent = firstGrapheme(r.host || "?").toUpperCase();
  top.avatar.setAttribute("aria-hidden", "true");
  top.title.textContent = r.title || room;
  top.host.textContent = r.host ? t("common.with_host", { host: r.host }) : "";
  const label = { live: "status.live", scheduled: "status.soon", ended: "status.ended" }[r.status];
  top.status.textContent = label ? t(label) : r.status;
  top.status.className = `badge badge-${r.status}`;
  const viewers = model.live.viewers || 0;
  top.viewers.textContent = count(viewers);
  top.viewers.parentElement.setAttribute("aria-label", t("live.viewers", { n: viewers }));
  document.title = `${r.title || room} · livecart`;
}

function renderState() {
  const r = model.room;
  const code = conn.closeCode;
  let state = "live";
  if (conn.status === "closed" && code === 4004) state = "missing";
  else if (conn.status === "closed" && code === 4003) state = "banned";
  else if (!model.ready) state = "loading";
  else if (r.status === "ended" || playerStatus === "ended") state = "ended";
  else if (videoPlaying && playerStatus === "live") state = "playing";
  else if (r.status === "scheduled") state = "scheduled";
  else if (playerStatus === "offline") state = "paused";
  else state = "starting";
  app.dataset.state = state;
  app.dataset.roomStatus = r.status;
  const card = $("#state-card");
  const host = r.host || t("live.the_host");
  const all = h("a", { class: "btn", href: "/" }, msg("live.other_shows"));
  const views = {
    loading: [h("div", { class: "spinner", role: "img", "aria-label": msg("common.loading") })],
    starting: [h("div", { class: "spinner", "aria-hidden": "true" }), h("p", {}, msg("live.starting"))],
    scheduled: [
      h("div", { class: "state-icon" }, icon("clock", 30)),
      h("h2", {}, msg("live.not_live")),
      h("p", { class: "muted" }, msg("live.not_live_text", { host })),
    ],
    ended: [
      h("div", { class: "state-icon" }, icon("heart", 30)),
      h("h2", {}, msg("live.ended")),
      h("p", { class: "muted" }, r.title ? msg("live.ended_text", { title: r.title }) : msg("live.ended_text_plain")),
      all,
    ],
    paused: [
      h("div", { class: "spinner", "aria-hidden": "true" }),
      h("h2", {}, msg("live.paused")),
      h("p", { class: "muted" }, msg("live.paused_text", { host })),
    ],
    missing: [h("h2", {}, msg("live.missing")), h("p", { class: "muted" }, msg("live.missing_text")), all],
    banned: [h("h2", {}, msg("live.banned")), h("p", { class: "muted" }, msg("live.banned_text"))],
    playing: [],
  };
  const sig = `${state}|${host}|${r.title}`;
  if (card.dataset.sig !== sig) {
    card.dataset.sig = sig;
    replace(card, views[state]);
    card.dataset.state = state;
  }
  card.hidden = state === "playing";
}

// -- chat ------------------------------------------------------------------------------

function messageNode(m) {
  const mine = model.isMine(m);
  const host = m.user && m.user.role === "host";
  return h(
    "div",
    { class: `msg${mine ? " mine" : ""}${host ? " host" : ""}`, dataset: { id: String(m.id) } },
    h(
      "span",
      { class: "msg-name" },
      host ? h("span", { class: "badge badge-host" }, msg("common.host")) : null,
      (m.user && m.user.name) || t("common.guest"),
    ),
    h("span", { class: "msg-text", text: m.text }),
  );
}

function systemNode(text) {
  return h("div", { class: "msg system" }, h("span", { class: "msg-text", text }));
}

function nearBottom() {
  return chatEl.scrollHeight - chatEl.scrollTop - chatEl.clientHeight < 60;
}

function addChatNodes(nodes) {
  const stick = nearBottom();
  chatEl.append(...nodes);
  while (chatEl.childElementCount > MAX_CHAT_NODES) chatEl.firstElementChild.remove();
  if (stick) chatEl.scrollTop = chatEl.scrollHeight;
}

function renderChat() {
  replace(chatEl, model.chat.map(messageNode));
  chatEl.scrollTop = chatEl.scrollHeight;
}

function renderComposer() {
  const muted = Boolean(model.you && model.you.muted);
  input.disabled = muted;
  const slow = model.room.slow_mode;
  input.placeholder = muted ? t("live.muted") : slow ? t("live.slow", { n: slow }) : t("live.say_something");
}

let noteTimer = null;
function setNote(text, kind = "error") {
  note.textContent = text;
  note.dataset.kind = kind;
  clearTimeout(noteTimer);
  if (text) noteTimer = setTimeout(() => (note.textContent = ""), 5000);
}

async function sendChat(text) {
  try {
    await conn.command("chat", { text });
    input.value = "";
    setNote("");
  } catch (err) {
    setNote(say(err.error || err));
  }
}

$("#composer").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  if (!conn.name) askName(() => sendChat(text));
  else sendChat(text);
});

// -- name sheet ------------------------------------------------------------------------

function askName(then) {
  const sheet = $("#name-sheet");
  const field = h("input", {
    class: "field",
    id: "name-input",
    maxlength: "32",
    placeholder: msg("live.your_name"),
    autocomplete: "nickname",
    autofocus: true,
    "aria-label": msg("live.your_name"),
  });
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h(
    "form",
    { class: "name-form" },
    field,
    error,
    h("button", { class: "btn btn-primary btn-lg btn-block", type: "submit" }, msg("live.join_chat")),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = field.value.trim();
    if (!name) {
      error.textContent = t("live.name_first");
      return;
    }
    try {
      localStorage.setItem(NAME_KEY, name);
    } catch (_) {
      // not kept: fine for this visit
    }
    conn.name = name;
    closeSheet();
    conn.reconnect(); // the name is part of the connection; the page resumes where it was
    await whenOpen();
    if (then) then();
  });
  replace(
    sheet,
    h("div", { class: "sheet-grip", "aria-hidden": "true" }),
    h(
      "header",
      { class: "sheet-head" },
      h("h2", { id: "name-title" }, msg("live.name_title")),
      h("button", { class: "icon-btn", type: "button", "aria-label": msg("common.close"), onclick: closeSheet }, icon("close")),
    ),
    h("p", { class: "sheet-sub muted" }, msg("live.name_text")),
    form,
  );
  openSheet(sheet);
}

function whenOpen() {
  if (conn.status === "open") return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (conn.status === "open") {
        conn.removeEventListener("status", check);
        resolve();
      }
    };
    conn.addEventListener("status", check);
  });
}

// -- hearts ----------------------------------------------------------------------------

const heartsLayer = $("#hearts-layer");
let heartsToSend = 0;
let heartsTimer = null;
let ownEcho = 0; // own taps the server will count in a coming `hearts` value

function floatHeart(own) {
  if (reducedMotion.matches) {
    // No floating: the heart button glows briefly instead.
    const btn = $("#heart-btn");
    btn.classList.add("pulse");
    btn.dataset.pulses = String(Number(btn.dataset.pulses || 0) + 1);
    clearTimeout(btn.pulseTimer);
    btn.pulseTimer = setTimeout(() => btn.classList.remove("pulse"), 600);
    return;
  }
  if (heartsLayer.childElementCount > 40) return;
  const el = h("span", { class: `float-heart${own ? " own" : ""}` }, icon("heart", own ? 30 : 24));
  el.style.setProperty("--x", `${Math.round(Math.random() * 60 - 30)}px`);
  el.style.setProperty("--hue", String(Math.round(330 + Math.random() * 50) % 360));
  el.style.setProperty("--dur", `${(2 + Math.random() * 1.2).toFixed(2)}s`);
  el.addEventListener("animationend", () => el.remove());
  heartsLayer.append(el);
}

function flushHearts() {
  heartsTimer = null;
  const n = Math.min(50, heartsToSend);
  heartsToSend -= n;
  if (!n) return;
  ownEcho += n;
  conn.command("heart", { n }).catch(() => {
    ownEcho = Math.max(0, ownEcho - n);
  });
  if (heartsToSend) heartsTimer = setTimeout(flushHearts, 400);
}

$("#heart-btn").addEventListener("click", () => {
  floatHeart(true);
  heartsToSend += 1;
  if (!heartsTimer) heartsTimer = setTimeout(flushHearts, 400);
});

function othersHearts(n) {
  const own = Math.min(n, ownEcho);
  ownEcho -= own;
  const show = Math.min(8, n - own);
  for (let i = 0; i < show; i++) setTimeout(() => floatHeart(false), i * 120 + Math.random() * 80);
}

// -- toasts ----------------------------------------------------------------------------

/** Say `text` to screen readers at once (sold out, outbid, order confirmed). */
function announce(text) {
  const box = $("#announce");
  box.textContent = "";
  setTimeout(() => (box.textContent = text), 50);
}

function toast(text, kind = "info") {
  const box = $("#toasts");
  const el = h("div", { class: `toast ${kind}` }, kind === "bought" ? icon("bag", 16) : null, h("span", { text }));
  box.append(el);
  while (box.childElementCount > 3) box.firstElementChild.remove();
  setTimeout(() => {
    el.classList.add("out");
    setTimeout(() => el.remove(), 400);
  }, 4000);
}

function boughtToasts(list) {
  for (const b of list || []) {
    const product = model.products[b.product_id];
    const what = product ? product.name : t("live.an_item");
    toast(t(b.qty > 1 ? "live.bought_n" : "live.bought", { name: b.name, n: b.qty, product: what }), "bought");
  }
}

// -- connection state ------------------------------------------------------------------

const banner = $("#conn-banner");
function renderConn() {
  const retrying = conn.status === "retrying";
  banner.hidden = !retrying;
  if (retrying && !banner.childElementCount) {
    replace(banner, icon("wifi", 16), h("span", {}, msg("common.retrying")));
  }
  app.dataset.conn = conn.status;
  renderState();
}

// -- wiring ----------------------------------------------------------------------------

function onFrame(frame) {
  const prevPinned = model.pinned;
  const changes = model.applyFrame(frame);
  if (changes.reset) {
    renderChat();
  } else {
    const nodes = [];
    if (changes.pin && model.pinned && model.pinned !== prevPinned) {
      const p = model.products[model.pinned];
      if (p) nodes.push(systemNode(t("live.now_showing", { product: p.name })));
    }
    if (changes.sales) {
      for (const e of frame.events || []) {
        if (e.type === "sale" && e.sale && e.sale.state !== "closed" && model.products[e.product_id]) {
          const p = model.products[e.product_id];
          nodes.push(systemNode(t("live.flash_sale", { product: p.name, price: money(e.sale.price, e.sale.currency) })));
        }
      }
    }
    nodes.push(...changes.chat.map(messageNode));
    if (nodes.length) addChatNodes(nodes);
    for (const id of changes.deleted) {
      const el = chatEl.querySelector(`[data-id="${Number(id)}"]`);
      if (el) el.remove();
    }
  }
  if (changes.reset || changes.room) setRoomDefault(model.room.lang);
  if (typeof changes.live.hearts === "number") othersHearts(changes.live.hearts);
  if (changes.live.bought) boughtToasts(changes.live.bought);
  renderTop();
  renderComposer();
  renderState();
  shop.update(changes);
  lots.update(changes);
}
const videoClock =
  typeof player.serverTime === "function"
    ? new VideoClock(() => player.serverTime(), onFrame, () => video.currentTime)
    : null;
conn.addEventListener("frame", (ev) => (videoClock ? videoClock.push(ev.detail) : onFrame(ev.detail)));
conn.addEventListener("status", renderConn);

player.addEventListener("status", (ev) => {
  playerStatus = ev.detail;
  if (playerStatus !== "live") videoPlaying = false;
  renderState();
});
video.addEventListener("playing", () => {
  videoPlaying = true;
  renderState();
  $("#unmute").hidden = !video.muted;
});
video.addEventListener("emptied", () => {
  videoPlaying = false;
  renderState();
});

const unmute = $("#unmute");
replace(unmute, icon("mute", 16), h("span", {}, msg("live.tap_sound")));
unmute.addEventListener("click", () => {
  video.muted = false;
  video.play().catch(() => {});
  unmute.hidden = true;
});

$("#send-btn").append(icon("send", 20));
$("#bag-btn").append(icon("bag", 22));
$("#heart-btn").append(icon("heart", 24));
$("#bag-btn").addEventListener("click", () => shop.openLineup());
setupSheets();

// A language switch redraws in place: the chat, the sheets and the purchase stay.
onLangChange(() => {
  renderTop();
  renderComposer();
  renderState();
  shop.relabel();
  lots.relabel();
});

if (!room) {
  conn.closeCode = 4004;
  conn.status = "closed";
  renderState();
} else {
  conn.start();
  player.start();
  renderTop();
  renderState();
}

// For tests and debugging in the console.
window.livecart = { conn, model, player, shop, lots, videoClock };
