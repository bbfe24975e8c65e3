// The viewer room /live/<room>: the stream full screen, chat over it, hearts, the
// pinned product and checkout in the stream.

import { LivePlayer } from "/static/streamer/player.js";
import { RoomConnection } from "./conn.js";
import { $, h, icon, replace } from "./dom.js";
import { count, money, roomFromPath } from "./format.js";
import { HlsPlayer, needsHls } from "./hls-fallback.js";
import { Shop } from "./live-shop.js";
import { RoomModel } from "./model.js";
import { closeSheet, openSheet, setupSheets } from "./sheets.js";
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
const player = needsHls(video)
  ? new HlsPlayer(video, `/hls/${encodeURIComponent(room)}/index.m3u8`)
  : new LivePlayer(video, `/ws/video/${encodeURIComponent(room)}`);
const shop = new Shop(model, conn, toast);
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
  host: h("div", { class: "top-host" }),
  status: h("span", { class: "badge" }),
  viewers: h("span", { class: "viewers" }),
};
replace(
  $("#topbar"),
  h("a", { class: "icon-btn back", href: "/", "aria-label": "All shows" }, icon("back")),
  top.avatar,
  h("div", { class: "top-text" }, top.title, top.host),
  h("div", { class: "top-right" }, top.status, h("span", { class: "viewer-pill" }, icon("eye", 15), top.viewers)),
);

function renderTop() {
  const r = model.room;
  top.avatar.textContent = (r.host || "?").charAt(0).toUpperCase();
  top.title.textContent = r.title || room;
  top.host.textContent = r.host ? `with ${r.host}` : "";
  const label = { live: "Live", scheduled: "Soon", ended: "Ended" }[r.status] || r.status;
  top.status.textContent = label;
  top.status.className = `badge badge-${r.status}`;
  top.viewers.textContent = count(model.live.viewers || 0);
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
  const host = r.host || "The host";
  const all = h("a", { class: "btn", href: "/" }, "See other shows");
  const views = {
    loading: [h("div", { class: "spinner" })],
    starting: [h("div", { class: "spinner" }), h("p", {}, "Starting the video…")],
    scheduled: [
      h("div", { class: "state-icon" }, icon("clock", 30)),
      h("h2", {}, "Not live yet"),
      h("p", { class: "muted" }, `${host} goes live soon. Stay here: the show starts by itself.`),
    ],
    ended: [
      h("div", { class: "state-icon" }, icon("heart", 30)),
      h("h2", {}, "This show has ended"),
      h("p", { class: "muted" }, `Thanks for watching ${r.title || "the show"}.`),
      all,
    ],
    paused: [
      h("div", { class: "spinner" }),
      h("h2", {}, "Back in a moment"),
      h("p", { class: "muted" }, `${host}'s video paused. Stay here: it comes back by itself.`),
    ],
    missing: [h("h2", {}, "No such show"), h("p", { class: "muted" }, "Check the link, or pick a show."), all],
    banned: [h("h2", {}, "You can't join this show"), h("p", { class: "muted" }, "The host removed you from this room.")],
    playing: [],
  };
  if (card.dataset.state !== state) {
    replace(card, views[state]);
    card.dataset.state = state;
  }
  card.hidden = state === "playing";
}

// -- chat ------------------------------------------------------------------------------

function messageNode(msg) {
  const mine = model.isMine(msg);
  const host = msg.user && msg.user.role === "host";
  return h(
    "div",
    { class: `msg${mine ? " mine" : ""}${host ? " host" : ""}`, dataset: { id: String(msg.id) } },
    h(
      "span",
      { class: "msg-name" },
      host ? h("span", { class: "badge badge-host" }, "Host") : null,
      (msg.user && msg.user.name) || "guest",
    ),
    h("span", { class: "msg-text", text: msg.text }),
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
  input.placeholder = muted ? "The host muted you" : slow ? `Slow mode: one message every ${slow} s` : "Say something…";
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
    placeholder: "Your name",
    autocomplete: "nickname",
    autofocus: true,
    "aria-label": "Your name",
  });
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h(
    "form",
    { class: "name-form" },
    field,
    error,
    h("button", { class: "btn btn-primary btn-lg btn-block", type: "submit" }, "Join the chat"),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = field.value.trim();
    if (!name) {
      error.textContent = "Pick a name first.";
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
      h("h2", { id: "name-title" }, "Pick a chat name"),
      h("button", { class: "icon-btn", type: "button", "aria-label": "Close", onclick: closeSheet }, icon("close")),
    ),
    h("p", { class: "sheet-sub muted" }, "Everyone in the show sees it next to your messages."),
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
    const what = product ? product.name : "an item";
    toast(`${b.name} just bought ${b.qty > 1 ? `${b.qty} × ` : ""}${what}`, "bought");
  }
}

// -- connection state ------------------------------------------------------------------

const banner = $("#conn-banner");
function renderConn() {
  const retrying = conn.status === "retrying";
  banner.hidden = !retrying;
  if (retrying && !banner.childElementCount) {
    replace(banner, icon("wifi", 16), h("span", {}, "Connection lost, retrying…"));
  }
  app.dataset.conn = conn.status;
  renderState();
}

// -- wiring ----------------------------------------------------------------------------

conn.addEventListener("frame", (ev) => {
  const prevPinned = model.pinned;
  const changes = model.applyFrame(ev.detail);
  if (changes.reset) {
    renderChat();
  } else {
    const nodes = [];
    if (changes.pin && model.pinned && model.pinned !== prevPinned) {
      const p = model.products[model.pinned];
      if (p) nodes.push(systemNode(`Now showing: ${p.name}`));
    }
    if (changes.sales) {
      for (const e of ev.detail.events || []) {
        if (e.type === "sale" && e.sale && e.sale.state !== "closed" && model.products[e.product_id]) {
          const p = model.products[e.product_id];
          nodes.push(systemNode(`Flash sale: ${p.name} at ${money(e.sale.price, e.sale.currency)}`));
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
  if (typeof changes.live.hearts === "number") othersHearts(changes.live.hearts);
  if (changes.live.bought) boughtToasts(changes.live.bought);
  renderTop();
  renderComposer();
  renderState();
  shop.update(changes);
});
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
replace(unmute, icon("mute", 16), h("span", {}, "Tap for sound"));
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
window.livecart = { conn, model, player, shop };
