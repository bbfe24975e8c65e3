// Studio: past shows. Each recorded show with its replay link, its replay views, and
// the host's switches: hide the whole replay, hide one chapter ("explained at" entry).
// GET /api/rooms/{room}/shows (with the host token: hidden ones too), the show's
// chapters from GET .../shows/{show}, changes by PUT .../shows/{show}/visibility.
// The replay orders of the room come with the figures (`replay`).

import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { count } from "./format.js";
import { msg, t } from "./i18n.js";

const POLL_MS = 15_000;

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const pad = (n) => String(n).padStart(2, "0");
  const hh = Math.floor(s / 3600);
  return hh ? `${hh}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}` : `${Math.floor(s / 60)}:${pad(s % 60)}`;
}

export class PastShows {
  constructor(el, room, token) {
    this.el = el;
    this.room = room;
    this.token = token;
    this.shows = [];
    this.details = new Map(); // show -> detail (chapters), loaded when opened
    this.replayOrders = 0;
    this.list = h("ol", { class: "past-shows", id: "past-show-list" });
    this.summary = h("p", { class: "faint small", id: "replay-summary" });
    replace(el, h("div", { class: "card-head" }, h("h2", {}, msg("studio.past_shows"))), this.summary, this.list);
  }

  start() {
    this.load();
    this.timer = setInterval(() => this.load(), POLL_MS);
  }

  setFigures(figures) {
    this.replayOrders = (figures && figures.replay && figures.replay.orders) || 0;
    this.render();
  }

  async load() {
    try {
      const data = await api(`/api/rooms/${encodeURIComponent(this.room)}/shows`, { token: this.token });
      this.shows = data.shows || [];
    } catch (_) {
      return;
    }
    this.render();
  }

  async toggle(show, changes) {
    const detail = this.details.get(show.show);
    const hidden = new Set(detail ? detail.chapters.filter((c) => c.hidden).map((c) => `${c.product_id}:${c.n}`) : []);
    if (changes.chapter) {
      if (hidden.has(changes.chapter)) hidden.delete(changes.chapter);
      else hidden.add(changes.chapter);
    }
    const body = { hidden: changes.hidden ?? show.hidden, hidden_chapters: [...hidden] };
    await api(`/api/rooms/${encodeURIComponent(this.room)}/shows/${encodeURIComponent(show.show)}/visibility`, { token: this.token, method: "PUT", body });
    if (detail) this.details.set(show.show, await this.detail(show.show));
    await this.load();
  }

  detail(name) {
    return api(`/api/rooms/${encodeURIComponent(this.room)}/shows/${encodeURIComponent(name)}`, { token: this.token });
  }

  async openChapters(show) {
    this.details.set(show.show, await this.detail(show.show));
    this.render();
  }

  render() {
    const views = this.shows.reduce((n, s) => n + (s.views || 0), 0);
    this.summary.textContent = `${t("studio.replay_views", { n: views })} · ${t("studio.replay_orders", { n: this.replayOrders })}`;
    const items = this.shows.map((s) => {
      const detail = this.details.get(s.show);
      const started = s.started_at ? new Date(s.started_at * 1000).toLocaleString() : s.show;
      return h(
        "li",
        { class: `past-show${s.hidden ? " hidden-replay" : ""}`, dataset: { show: s.show } },
        h("div", { class: "past-show-head" }, h("a", { href: s.replay, target: "_blank", rel: "noopener", text: started }), h("span", { class: "faint small", text: `${clock(s.duration)} · ${t("studio.replay_views", { n: count(s.views || 0) })}` })),
        h(
          "div",
          { class: "past-show-actions" },
          h("button", { class: "btn btn-sm hide-replay", type: "button", text: s.hidden ? msg("studio.show_replay") : msg("studio.hide_replay"), onclick: () => this.toggle(s, { hidden: !s.hidden }) }),
          detail ? null : h("button", { class: "btn btn-sm", type: "button", text: msg("studio.chapters"), onclick: () => this.openChapters(s) }),
        ),
        detail
          ? h(
              "ul",
              { class: "past-chapters" },
              ...detail.chapters.map((c) =>
                h(
                  "li",
                  { dataset: { chapter: `${c.product_id}:${c.n}` } },
                  h("span", { text: `${c.name} · ${t("replay.explained_at", { time: clock(c.at - detail.first) })}` }),
                  h("a", { class: "btn btn-sm", href: c.clip, download: "", text: msg("studio.clip") }),
                  h("button", { class: "btn btn-sm hide-chapter", type: "button", text: c.hidden ? msg("studio.show_chapter") : msg("studio.hide_chapter"), onclick: () => this.toggle(s, { chapter: `${c.product_id}:${c.n}` }) }),
                ),
              ),
            )
          : null,
      );
    });
    if (!items.length) items.push(h("li", { class: "faint" }, msg("studio.no_past_shows")));
    replace(this.list, items);
  }
}
