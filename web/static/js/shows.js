// The show list: live and upcoming rooms (GET /api/rooms) and the host sign-in box.

import { $, h, icon, replace } from "./dom.js";
import { count, firstGrapheme } from "./format.js";
import { langPicker, msg, onLangChange, t } from "./i18n.js";

const REFRESH_MS = 5000;
const list = $("#show-list");
const note = $("#list-note");
const LABELS = { live: "status.live", scheduled: "status.upcoming", ended: "status.ended" };
let rooms = null;
let unreachable = false;
const replays = new Map(); // ended room id -> its newest replay's URL (null: none)

function card(r) {
  const href = `/live/${encodeURIComponent(r.id)}`;
  const action = r.status === "live" ? "shows.watch" : r.status === "ended" ? "shows.view" : "shows.open";
  return h(
    "li",
    { class: `show-card ${r.status}`, dataset: { room: r.id } },
    h(
      "a",
      { class: "show-link", href },
      h(
        "div",
        { class: "show-art" },
        h("span", { class: "show-initial", "aria-hidden": "true", text: firstGrapheme(r.host || r.title || "?").toUpperCase() }),
        h("span", { class: `badge badge-${r.status}` }, LABELS[r.status] ? msg(LABELS[r.status]) : r.status),
        r.status === "live"
          ? h("span", { class: "show-viewers", "aria-label": msg("shows.viewers", { n: r.viewers || 0 }) }, icon("eye", 14), count(r.viewers))
          : null,
      ),
      h(
        "div",
        { class: "show-body" },
        h("h3", { class: "show-title", text: r.title || r.id }),
        h("p", { class: "show-host muted" }, r.host ? msg("common.with_host", { host: r.host }) : msg("common.a_host")),
      ),
      h("span", { class: `btn btn-sm ${r.status === "live" ? "btn-primary" : ""}` }, msg(action)),
    ),
    replays.get(r.id) ? h("a", { class: "btn btn-sm btn-primary replay-link", href: replays.get(r.id) }, msg("shows.replay")) : null,
  );
}

// Ended shows get a link to their newest replay (GET /api/rooms/{room}/shows).
async function loadReplays(ended) {
  const missing = ended.filter((r) => !replays.has(r.id));
  if (!missing.length) return;
  await Promise.all(
    missing.map(async (r) => {
      try {
        const res = await fetch(`/api/rooms/${encodeURIComponent(r.id)}/shows`, { cache: "no-store" });
        const shows = res.ok ? (await res.json()).shows : [];
        const done = shows.find((s) => s.ended_at);
        replays.set(r.id, done ? done.replay : null);
      } catch (_) {
        /* no link this time */
      }
    }),
  );
  render();
}

function render() {
  if (rooms) {
    const shown = rooms.filter((r) => r.status !== "ended");
    const ended = rooms.filter((r) => r.status === "ended").slice(0, 6);
    loadReplays(ended);
    const items = [...shown, ...ended].map(card);
    if (!items.length) items.push(h("li", { class: "empty-list muted" }, msg("shows.empty")));
    replace(list, items);
    const live = shown.filter((r) => r.status === "live").length;
    note.textContent = unreachable ? t("shows.unreachable") : live ? t("shows.live_now", { n: live }) : "";
  } else if (unreachable) {
    note.textContent = t("shows.unreachable");
  }
}

async function load() {
  try {
    const res = await fetch("/api/rooms", { cache: "no-store" });
    if (!res.ok) throw new Error(String(res.status));
    rooms = (await res.json()).rooms || [];
    unreachable = false;
  } catch (_) {
    unreachable = true;
  }
  render();
}

$("#host-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const room = $("#host-room").value.trim().toLowerCase();
  const token = $("#host-token").value.trim();
  if (!room || !token) return;
  location.href = `/studio/${encodeURIComponent(room)}#token=${encodeURIComponent(token)}`;
});

$("#lang-slot").replaceWith(langPicker(h));
onLangChange(render);
load();
setInterval(() => {
  if (!document.hidden) load();
}, REFRESH_MS);
