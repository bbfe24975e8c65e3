// The studio's auction and giveaway cards (docs/auctions.md).
//
// Auction: pick a lineup product, a starting price, the duration (5–300 s), the
// counter-bid time, sudden death and an optional reserve; start; watch the bids come in
// (price, leader, bids, resets, the latest bids, time left on Redis' clock); cancel
// before the first bid; see the result (sold with its order, unpaid, unsold).
// Giveaway: a product, the rule (watched N s / chatted / bought) and the duration;
// start; see the commitment, then the winner, the revealed seed and the entrants.

import { h, replace } from "./dom.js";
import { countdown, money, newKey, toMajor, toMinor } from "./format.js";
import { msg, t } from "./i18n.js";
import { say } from "./words.js";

const FEED = 8;

function field(label, input, hint) {
  return h("label", { class: "lbl" }, label, input, hint ? h("span", { class: "hint faint" }, hint) : null);
}

export class AuctionDesk {
  constructor(auctionEl, giveawayEl, model, conn) {
    this.el = auctionEl;
    this.gel = giveawayEl;
    this.model = model;
    this.conn = conn;
    this.feed = []; // the latest bids seen: {name, max, at}
    this.lastBids = 0;
    this.error = "";
    this.gerror = "";
    this.sig = null;
    this.gsig = null;
    this.timer = null;
    this.gtimer = null;
    setInterval(() => this.tick(), 250);
  }

  now() {
    return this.model.serverNow(this.conn.clockOffset || 0);
  }

  update(changes) {
    const a = this.model.auction;
    if (changes.reset) this.feed = [];
    if (a && changes.auction && a.last_bid && a.bids > this.lastBids) {
      this.feed = [{ name: a.last_bid.name, max: a.last_bid.max, currency: a.currency }, ...this.feed].slice(0, FEED);
    }
    if (a) this.lastBids = a.bids;
    if (changes.reset || changes.auction || changes.products || changes.lineup) this.render();
    if (changes.reset || changes.giveaway || changes.products || changes.lineup) this.renderGiveaway();
  }

  tick() {
    const a = this.model.auction;
    if (a && a.state === "running" && this.timer) this.timer.textContent = countdown(Math.max(0, a.ends_at - this.now()));
    const g = this.model.giveaway;
    if (g && g.state === "open" && this.gtimer) this.gtimer.textContent = countdown(Math.max(0, g.ends_at - this.now()));
  }

  _products(id) {
    const options = this.model.lineup.map((pid) => this.model.products[pid]).filter(Boolean);
    return h(
      "select",
      { class: "field", id, name: "product_id", required: true },
      options.map((p) => h("option", { value: p.id, text: `${p.name} · ${money(p.price, p.currency)}` })),
    );
  }

  async _run(cmd, args, which) {
    try {
      await this.conn.command(cmd, args);
      this[which] = "";
    } catch (err) {
      this[which] = say(err.error || err);
    }
    if (which === "error") this.render(true);
    else this.renderGiveaway(true);
  }

  render(force = false) {
    const a = this.model.auction;
    const running = a && a.state === "running";
    const sig = JSON.stringify([a, this.feed, this.error, this.model.lineup, running ? null : Object.keys(this.model.products)]);
    if (!force && sig === this.sig) return;
    // Keep a form being filled in: redraw it only when there is none or it is not in use.
    if (!force && !running && this.el.contains(document.activeElement) && this.el.querySelector("#auction-form")) return;
    this.sig = sig;
    const parts = [h("div", { class: "card-head" }, h("h2", { id: "auction-desk-title" }, msg("auction.studio_title")), a ? h("span", { class: "badge", id: "auction-state" }, msg(`auction.state_${a.state}`)) : null)];
    if (running) parts.push(this._live(a));
    else {
      if (a) parts.push(this._result(a));
      parts.push(this._form());
    }
    parts.push(h("p", { class: "form-error", role: "alert", id: "auction-desk-error", text: this.error }));
    replace(this.el, ...parts);
  }

  _live(a) {
    const p = this.model.products[a.product_id];
    this.timer = h("b", { id: "auction-desk-time", role: "timer" }, countdown(Math.max(0, a.ends_at - this.now())));
    const cancel = h("button", { class: "btn btn-danger", type: "button", id: "cancel-auction", disabled: a.bids > 0 }, msg("auction.cancel"));
    cancel.addEventListener("click", () => this._run("cancel_auction", { auction_id: a.id }, "error"));
    return h(
      "div",
      { class: "auction-live" },
      h("p", { class: "item-name", text: p ? p.name : a.product_id }),
      h(
        "div",
        { class: "auction-stats" },
        h("p", { class: "fact" }, h("span", { class: "fact-k" }, msg("auction.current")), h("b", { id: "auction-desk-price" }, money(a.price, a.currency))),
        h("p", { class: "fact" }, h("span", { class: "fact-k" }, msg("auction.leader")), h("b", { id: "auction-desk-leader" }, a.leader || t("auction.no_bids"))),
        h("p", { class: "fact" }, h("span", { class: "fact-k" }, msg("auction.bids")), h("b", { id: "auction-desk-bids" }, String(a.bids))),
        h("p", { class: "fact" }, h("span", { class: "fact-k" }, msg("auction.resets")), h("b", { id: "auction-desk-resets" }, String(a.resets))),
        h("p", { class: "fact" }, h("span", { class: "fact-k" }, msg("auction.time_left")), h("b", {}, this.timer)),
        h("p", { class: "fact" }, h("span", { class: "fact-k" }, msg("auction.reserve")), h("b", {}, a.reserve_met === false ? t("auction.reserve_not_met") : t("auction.reserve_met"))),
      ),
      h("h3", { class: "feed-title" }, msg("auction.feed")),
      h(
        "ol",
        { class: "auction-feed", id: "auction-feed", "aria-live": "polite" },
        this.feed.length ? this.feed.map((b) => h("li", {}, t("auction.feed_line", { name: b.name, price: money(b.max, b.currency) }))) : h("li", { class: "faint" }, msg("auction.no_bids")),
      ),
      h("div", { class: "form-actions start" }, cancel),
      a.bids > 0 ? h("p", { class: "faint" }, msg("auction.cancel_hint")) : null,
    );
  }

  _result(a) {
    this.timer = null;
    const price = money(a.price, a.currency);
    let text;
    if (a.state === "sold") text = t("auction.result_sold", { name: (a.winner && a.winner.name) || "", price, order: a.order_id || "" });
    else if (a.state === "won") text = t("auction.result_won", { name: (a.winner && a.winner.name) || "", price });
    else if (a.state === "unpaid") text = t("auction.unpaid");
    else if (a.state === "cancelled") text = t("auction.result_cancelled");
    else text = t("auction.unsold");
    return h("p", { class: "auction-result", id: "auction-result", role: "status" }, text);
  }

  _form() {
    if (!this.model.lineup.length) return h("p", { class: "muted" }, msg("auction.need_product"));
    const product = this._products("auction-product");
    const first = this.model.products[product.value] || {};
    const start = h("input", { class: "field", id: "auction-start", name: "start_price", inputmode: "decimal", required: true, value: first.price ? toMajor(first.price, first.currency) : "" });
    const duration = h("input", { class: "field", id: "auction-duration", name: "duration", type: "number", min: "5", max: "300", value: "30", required: true });
    const counter = h("input", { class: "field", id: "auction-counter", name: "counter_seconds", type: "number", min: "0", max: "60", value: "10", required: true });
    const sudden = h("input", { type: "checkbox", id: "auction-sudden", name: "sudden_death" });
    const reserve = h("input", { class: "field", id: "auction-reserve", name: "reserve", inputmode: "decimal", placeholder: t("auction.reserve_none") });
    const form = h(
      "form",
      { class: "auction-form", id: "auction-form", "aria-labelledby": "auction-desk-title" },
      field(msg("auction.product"), product),
      h("div", { class: "form-row" }, field(msg("auction.start_price"), start), field(msg("auction.duration"), duration, msg("auction.duration_hint")), field(msg("auction.counter"), counter)),
      h("div", { class: "form-row" }, field(msg("auction.reserve"), reserve, msg("auction.reserve_hint")), h("label", { class: "lbl-row", for: "auction-sudden" }, sudden, " ", msg("auction.sudden"))),
      h("div", { class: "form-actions start" }, h("button", { class: "btn btn-primary", type: "submit", id: "start-auction" }, msg("auction.start"))),
    );
    product.addEventListener("change", () => {
      const p = this.model.products[product.value];
      if (p) start.value = toMajor(p.price, p.currency);
    });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const p = this.model.products[product.value];
      if (!p) return;
      const minor = toMinor(start.value, p.currency);
      const res = reserve.value.trim() ? toMinor(reserve.value, p.currency) : null;
      if (!Number.isFinite(minor) || minor < 1 || (res !== null && !Number.isFinite(res))) {
        this.error = t("lineup.bad_price", { example: toMajor(12900, p.currency) });
        this.render(true);
        return;
      }
      const args = { product_id: p.id, start_price: minor, duration: Number(duration.value), counter_seconds: Number(counter.value), sudden_death: sudden.checked, key: newKey() };
      if (res !== null) args.reserve = res;
      this._run("start_auction", args, "error");
    });
    return form;
  }

  // -- giveaway ------------------------------------------------------------------------

  renderGiveaway(force = false) {
    const g = this.model.giveaway;
    const open = g && g.state === "open";
    const sig = JSON.stringify([g, this.gerror, this.model.lineup, Object.keys(this.model.products)]);
    if (!force && sig === this.gsig) return;
    if (!force && !open && this.gel.contains(document.activeElement) && this.gel.querySelector("#giveaway-form")) return;
    this.gsig = sig;
    const parts = [h("div", { class: "card-head" }, h("h2", { id: "giveaway-desk-title" }, msg("giveaway.studio_title")), g ? h("span", { class: "badge", id: "giveaway-state" }, msg(`giveaway.state_${g.state}`)) : null)];
    this.gtimer = null;
    if (g) {
      const p = this.model.products[g.product_id];
      const facts = [h("p", { class: "item-name", text: p ? p.name : g.product_id }), h("p", {}, msg(`giveaway.rule_${g.rule}`, { n: g.watched_seconds || 0 }))];
      if (open) {
        this.gtimer = h("b", { id: "giveaway-desk-time", role: "timer" }, countdown(Math.max(0, g.ends_at - this.now())));
        facts.push(h("p", {}, msg("auction.time_left"), ": ", this.gtimer));
      }
      facts.push(h("p", { class: "faint giveaway-proof", id: "giveaway-commitment" }, msg("giveaway.commitment", { hash: g.commitment || "" })));
      if (g.state === "drawn" && g.winner) facts.push(h("p", { class: "auction-result", id: "giveaway-desk-winner", role: "status" }, msg("giveaway.winner_host", { name: g.winner.name, n: (g.eligible || []).length, order: g.order_id || "" })));
      if (g.state === "no_entrants") facts.push(h("p", { role: "status" }, msg("giveaway.no_entrants")));
      if (g.seed) facts.push(h("p", { class: "faint giveaway-proof", id: "giveaway-desk-seed" }, msg("giveaway.seed", { seed: g.seed })));
      parts.push(h("div", { class: "giveaway-live" }, facts));
    }
    if (!open) parts.push(this._giveawayForm());
    parts.push(h("p", { class: "form-error", role: "alert", id: "giveaway-desk-error", text: this.gerror }));
    replace(this.gel, ...parts);
  }

  _giveawayForm() {
    if (!this.model.lineup.length) return h("p", { class: "muted" }, msg("auction.need_product"));
    const product = this._products("giveaway-product");
    const rule = h(
      "select",
      { class: "field", id: "giveaway-rule-select", name: "rule" },
      ["watched", "chatted", "bought"].map((r) => h("option", { value: r, text: msg(`giveaway.rule_name_${r}`) })),
    );
    const watched = h("input", { class: "field", id: "giveaway-watched", name: "watched_seconds", type: "number", min: "1", max: "3600", value: "60" });
    const duration = h("input", { class: "field", id: "giveaway-duration", name: "duration", type: "number", min: "5", max: "600", value: "60", required: true });
    const watchedField = field(msg("giveaway.watched_seconds"), watched);
    rule.addEventListener("change", () => (watchedField.hidden = rule.value !== "watched"));
    const form = h(
      "form",
      { class: "auction-form", id: "giveaway-form", "aria-labelledby": "giveaway-desk-title" },
      field(msg("auction.product"), product),
      h("div", { class: "form-row" }, field(msg("giveaway.rule"), rule), watchedField, field(msg("giveaway.duration"), duration)),
      h("div", { class: "form-actions start" }, h("button", { class: "btn btn-primary", type: "submit", id: "start-giveaway" }, msg("giveaway.start"))),
    );
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const args = { product_id: product.value, rule: rule.value, duration: Number(duration.value) };
      if (rule.value === "watched") args.watched_seconds = Number(watched.value);
      this._run("start_giveaway", args, "gerror");
    });
    return form;
  }

  relabel() {
    this.render(true);
    this.renderGiveaway(true);
  }
}
