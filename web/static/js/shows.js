// The show list: live and upcoming rooms (GET /api/rooms) and the host sign-in box.

import { $, h, icon, replace } from "./dom.js";
import { count } from "./format.js";

const REFRESH_MS = 5000;
const list = $("#show-list");
const note = $("#list-note");
const LABELS = { live: "Live", scheduled: "Upcoming", ended: "Ended" };

function card(r) {
  const href = `/live/${encodeURIComponent(r.id)}`;
  return h(
    "li",
    { class: `show-card ${r.status}`, dataset: { room: r.id } },
    h(
      "a",
      { class: "show-link", href },
      h(
        "div",
        { class: "show-art", "aria-hidden": "true" },
        h("span", { class: "show-initial", text: (r.host || r.title || "?").charAt(0).toUpperCase() }),
        h("span", { class: `badge badge-${r.status}` }, LABELS[r.status] || r.status),
        r.status === "live" ? h("span", { class: "show-viewers" }, icon("eye", 14), count(r.viewers)) : null,
      ),
      h(
        "div",
        { class: "show-body" },
        h("h3", { class: "show-title", text: r.title || r.id }),
        h("p", { class: "show-host muted" }, `with ${r.host || "a host"}`),
      ),
      h("span", { class: `btn btn-sm ${r.status === "live" ? "btn-primary" : ""}` }, r.status === "live" ? "Watch" : r.status === "ended" ? "View" : "Open"),
    ),
  );
}

async function load() {
  try {
    const res = await fetch("/api/rooms", { cache: "no-store" });
    if (!res.ok) throw new Error(String(res.status));
    const rooms = (await res.json()).rooms || [];
    const shown = rooms.filter((r) => r.status !== "ended");
    const ended = rooms.filter((r) => r.status === "ended").slice(0, 6);
    const items = [...shown, ...ended].map(card);
    if (!items.length) items.push(h("li", { class: "empty-list muted" }, "No shows yet. Check back soon."));
    replace(list, items);
    const live = shown.filter((r) => r.status === "live").length;
    note.textContent = live ? `${live} live now` : "";
  } catch (_) {
    note.textContent = "Can't reach the server, retrying…";
  }
}

$("#host-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const room = $("#host-room").value.trim().toLowerCase();
  const token = $("#host-token").value.trim();
  if (!room || !token) return;
  location.href = `/studio/${encodeURIComponent(room)}#token=${encodeURIComponent(token)}`;
});

load();
setInterval(() => {
  if (!document.hidden) load();
}, REFRESH_MS);
