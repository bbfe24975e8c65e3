// The host studio /studio/<room>#token=<host token>.
//
// The token is read from the address fragment once, kept in sessionStorage (this tab
// only) and removed from the address bar. The WebSocket offers it as the
// subprotocol livecart.auth.<token> to join as host: it is never in a URL.

import { api, saveBlob } from "./api.js";
import { RoomConnection } from "./conn.js";
import { $, h, icon, replace } from "./dom.js";
import { count, money, roomFromPath } from "./format.js";
import { LANGS, LANG_NAMES, langPicker, msg, onLangChange, t } from "./i18n.js";
import { RoomModel } from "./model.js";
import { AuctionDesk } from "./studio-auction.js";
import { Broadcast } from "./studio-broadcast.js";
import { ChatDesk, ExplainQueue } from "./studio-chat.js";
import { Figures } from "./studio-figures.js";
import { Lineup } from "./studio-lineup.js";
import { PastShows } from "./studio-replays.js";
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
  const token = h("input", { class: "field", id: "signin-token", type: "password", placeholder: "host_…", autocomplete: "off", "aria-label": msg("shows.host_token") });
  const error = h("p", { class: "form-error", role: "alert", text: message ? msg(message) : "" });
  const form = h(
    "form",
    { class: "signin-card card" },
    h("img", { src: "/static/img/icon.svg", alt: "", width: "44", height: "44" }),
    h("h1", {}, msg("studio.signin_title")),
    h("p", { class: "muted" }, msg("studio.signin_room"), " ", h("b", { text: room }), msg("studio.signin_text")),
    token,
    error,
    h("button", { class: "btn btn-primary btn-lg btn-block", type: "submit" }, msg("shows.open_studio")),
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
    const cancel = h("button", { class: "btn", type: "button", value: "cancel" }, msg("common.cancel"));
    const ok = h("button", { class: "btn btn-danger-solid", type: "button", id: "confirm-ok" }, action);
    const done = (value) => {
      dialog.close();
      resolve(value);
    };
    cancel.addEventListener("click", () => done(false));
    ok.addEventListener("click", () => done(true));
    dialog.addEventListener("cancel", () => resolve(false), { once: true });
    replace(dialog, h("h2", { id: "confirm-title" }, title), h("p", { class: "muted" }, text), h("div", { class: "form-actions" }, cancel, ok));
    dialog.showModal();
  });
}

function main() {
  if (!room) {
    showSignin("studio.no_room");
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
  const past = new PastShows($("#past-shows"), room, token);
  const lots = new AuctionDesk($("#auction"), $("#giveaway"), model, conn);
  const figures = new Figures($("#figures"), room, token, model, (stock) => lineup.setStock(stock), (data) => past.setFigures(data));
  let ended = null; // the end-of-show result, once ended here

  // -- header ------------------------------------------------------------------------
  const goLive = h("button", { class: "btn btn-primary", type: "button", id: "go-live" }, icon("camera", 16), msg("studio.go_live"));
  const endShow = h("button", { class: "btn btn-danger", type: "button", id: "end-show" }, msg("studio.end_show"));
  const viewerLink = h("a", { class: "btn btn-ghost", href: `/live/${encodeURIComponent(room)}`, target: "_blank", rel: "noopener", "aria-label": msg("studio.viewer_page_label") }, msg("studio.viewer_page"));
  const viewers = h("span", { class: "bar-viewers" });
  // The room's default language for viewers who have not picked one (set_lang).
  const roomLang = h(
    "select",
    { class: "lang-select", id: "room-lang", "aria-label": msg("studio.room_lang"), title: msg("studio.room_lang") },
    h("option", { value: "", text: msg("studio.room_lang_browser") }),
    LANGS.map((l) => h("option", { value: l, lang: l, text: LANG_NAMES[l] })),
  );
  roomLang.addEventListener("change", async () => {
    try {
      await conn.command("set_lang", { lang: roomLang.value });
      announce(t("studio.room_lang_saved"));
    } catch (err) {
      announce(say(err.error || err));
      roomLang.value = model.room.lang || "";
    }
  });
  replace($("#bar-actions"), viewers, langPicker(h), roomLang, viewerLink, goLive, endShow);

  function renderBar() {
    const r = model.room;
    $("#room-title").textContent = r.title || room;
    document.title = `${t("studio.brand")} · ${r.title || room}`;
    const badge = $("#room-status");
    const label = { live: "status.live", scheduled: "status.not_live", ended: "status.ended" }[r.status];
    badge.textContent = label ? t(label) : r.status || "";
    badge.className = `badge badge-${r.status}`;
    viewers.replaceChildren(icon("eye", 15), document.createTextNode(` ${t("studio.watching", { n: model.live.viewers || 0, count: count(model.live.viewers || 0) })}`));
    if (document.activeElement !== roomLang) roomLang.value = r.lang || "";
    const state = broadcast.state;
    const onAir = state === "live" || state === "starting" || state === "reconnecting";
    goLive.hidden = onAir;
    goLive.classList.toggle("busy", state === "starting");
    endShow.hidden = r.status === "ended" && !onAir;
    const conn_ = $("#bar-conn");
    conn_.hidden = conn.status === "open";
    conn_.textContent = conn.status === "retrying" ? t("common.retrying") : conn.status === "connecting" ? t("common.connecting") : "";
  }

  goLive.addEventListener("click", async () => {
    goLive.disabled = true;
    await broadcast.goLive();
    goLive.disabled = false;
    renderBar();
  });
  endShow.addEventListener("click", async () => {
    const yes = await confirmDialog(msg("studio.end_title"), msg("studio.end_text"), msg("studio.end_show"));
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
      error.textContent = t("studio.download_failed", { why: say(err.error || err) });
    } finally {
      button.classList.remove("busy");
    }
  }

  function webhookText(status, configured) {
    if (!configured) return t("studio.webhook_none");
    if (!status) return t("studio.webhook_waiting");
    if (status.delivered) {
      return t("studio.webhook_delivered", { n: status.orders || 0, done: status.batches_delivered || 0, total: status.batches || 0 });
    }
    // The last error is the server's English text, shown as it is for the operator.
    const err = status.last_error ? ` ${t("studio.webhook_error", { error: status.last_error })}` : "";
    return t("studio.webhook_sending", { attempt: status.attempts || 0, done: status.batches_delivered || 0, total: status.batches || "?" }) + err;
  }
  let webhookState = null;

  async function pollWebhook(line) {
    clearTimeout(webhookTimer);
    try {
      const data = await api(`/api/rooms/${encodeURIComponent(room)}/fulfilment`, { token });
      webhookState = [line, data.webhook, data.configured];
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
    const csv = h("button", { class: "btn btn-primary", type: "button", id: "download-csv" }, icon("download", 16), msg("studio.download_csv"));
    csv.addEventListener("click", () => downloadCsv(csv, error));
    const webhook = h("p", { class: "webhook-line", id: "webhook-status", role: "status" }, t("studio.webhook_checking"));
    const f = ended && ended.figures;
    const revenue = f ? Object.entries(f.revenue || {}).map(([c, v]) => money(v, c)).join(" + ") || money(0, "USD") : "";
    replace(
      endCard,
      h("div", { class: "card-head" }, h("h2", {}, msg("studio.show_ended")), h("span", { class: "badge badge-ended" }, msg("status.ended"))),
      f
        ? h(
            "div",
            { class: "end-summary" },
            h("div", {}, h("b", {}, count(f.orders)), h("span", { class: "faint" }, " ", msg("studio.end_orders", { n: f.orders }))),
            h("div", {}, h("b", {}, count(f.units_sold)), h("span", { class: "faint" }, " ", msg("studio.end_units", { n: f.units_sold }))),
            h("div", {}, h("b", {}, revenue), h("span", { class: "faint" }, " ", msg("studio.end_revenue"))),
          )
        : h("p", { class: "muted" }, msg("studio.end_over")),
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
    lots.update(changes);
    queue.render();
    figures.render();
    renderBar();
  });

  function announce(text) {
    const box = $("#announce");
    box.textContent = "";
    setTimeout(() => (box.textContent = text), 50);
  }

  // A language switch redraws in place: forms being filled and the show go on.
  onLangChange(() => {
    renderBar();
    broadcast.relabel();
    lineup.render(); // the list only: a product form being filled stays as it is
    lineup.relabel();
    queue.sig = null;
    queue.render();
    desk.relabel();
    figures.render();
    figures.renderRecent();
    lots.relabel();
    if (webhookState) webhookState[0].textContent = webhookText(webhookState[1], webhookState[2]);
  });
  conn.addEventListener("status", () => {
    if (conn.status === "closed" && conn.closeCode === 4001) {
      try {
        sessionStorage.removeItem(tokenKey);
      } catch (_) {
        // nothing kept
      }
      showSignin("error.unauthorized");
      return;
    }
    if (conn.status === "closed" && conn.closeCode === 4004) {
      showSignin("studio.no_such_room");
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
  past.start();
  renderBar();
  window.livecart = { conn, model, broadcast, lineup, figures, past, lots };
}

main();
