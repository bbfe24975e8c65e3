// The viewer's live auction and giveaway panels (docs/auctions.md, docs/protocol.md).
//
// Auction: the current price, the leader (masked by the server), time left, the next
// bid; a one-tap bid (exactly the next bid), a max bid that proxy-bids up to it, and
// the card charged automatically if this viewer wins (the sandbox's test card by
// default). "Outbid" shows at once: on a bid's reply saying leading: false, and when an
// auction event moves the lead away from this viewer. The winner sees the order.
//
// Time left is ends_at - serverNow(): ends_at is on Redis' clock, and serverNow() is
// this page's estimate of that clock (model.js: from the events' server_now, else
// their ts, else the ping's offset), never the device's own clock alone.
//
// Giveaway: the rule, whether this viewer is in (a chat sent while it is open, a
// watch time counted from when this page connected, an order in this show), the time
// left, then the winner, the revealed seed and the commitment it matched.

import { $, h, replace } from "./dom.js";
import { countdown, money, newKey, toMajor, toMinor } from "./format.js";
import { msg, t } from "./i18n.js";
import { say } from "./words.js";

const TEST_CARD = "4242 4242 4242 4242";

export class AuctionPanel {
  constructor(model, conn, notify, announce) {
    this.model = model;
    this.conn = conn;
    this.notify = notify;
    this.announce = announce;
    this.el = $("#auction-panel");
    this.gel = $("#giveaway-panel");
    this.wasLeading = null; // auction id this viewer led in, at the last event
    this.outbid = false;
    this.busy = false;
    this.clearMax = false;
    this.error = "";
    this.card = TEST_CARD;
    this.connectedAt = null;
    this.bought = false;
    this.sig = null;
    this.gsig = null;
    conn.addEventListener("status", () => {
      if (conn.status === "open" && this.connectedAt === null) this.connectedAt = Date.now();
      if (conn.status !== "open") this.connectedAt = null;
    });
    setInterval(() => this.tick(), 250);
  }

  now() {
    return this.model.serverNow(this.conn.clockOffset || 0);
  }

  you() {
    return (this.model.you && this.model.you.vid) || "";
  }

  update(changes) {
    if (changes.reset || changes.auction) this._onAuction();
    if (changes.reset || changes.giveaway || changes.auction) this.renderGiveaway(true);
    this.render();
  }

  _onAuction() {
    const a = this.model.auction;
    if (!a) return;
    const me = this.you();
    const leading = a.leader_vid && a.leader_vid === me;
    if (this.wasLeading === a.id && !leading && a.state === "running") {
      this.outbid = true;
      this.announce(t("auction.outbid_now", { price: money(a.next_bid, a.currency) }));
    }
    if (leading) this.outbid = false;
    this.wasLeading = leading ? a.id : this.wasLeading === a.id ? null : this.wasLeading;
  }

  async bid(max) {
    const a = this.model.auction;
    if (!a || this.busy) return;
    this.busy = true;
    this.error = "";
    this.render(true);
    const card = this.card.replace(/\s+/g, "");
    try {
      const data = await this.conn.command("bid", { auction_id: a.id, max, key: newKey(), ...(card ? { card } : {}) });
      this.clearMax = true; // the max bid went in: empty the field
      if (data.leading) {
        this.outbid = false;
        this.wasLeading = a.id;
        this.announce(t("auction.you_lead", { price: money(data.auction.price, data.auction.currency) }));
      } else {
        this.outbid = true;
        this.announce(t("auction.outbid_now", { price: money(data.auction.next_bid, data.auction.currency) }));
      }
    } catch (err) {
      this.error = say(err.error || err);
    } finally {
      this.busy = false;
      this.render(true);
    }
  }

  tick() {
    const a = this.model.auction;
    if (a && a.state === "running" && this.timer) this.timer.textContent = this._left(a);
    const g = this.model.giveaway;
    if (g && g.state === "open") this.renderGiveaway(false);
  }

  _left(a) {
    return countdown(Math.max(0, a.ends_at - this.now()));
  }

  render(force = false) {
    const a = this.model.auction;
    const show = Boolean(a && (a.state === "running" || a.state === "won" || (a.state === "sold" || a.state === "unpaid" || a.state === "unsold")));
    this.el.hidden = !show;
    if (!show) {
      this.sig = null;
      return;
    }
    const sig = JSON.stringify([a, this.outbid, this.busy, this.error, this.you()]);
    if (!force && sig === this.sig) return;
    this.sig = sig;
    const p = this.model.products[a.product_id];
    const me = this.you();
    const running = a.state === "running";
    const head = h(
      "div",
      { class: "auction-head" },
      h("h2", { id: "auction-title" }, msg("auction.title")),
      h("span", { class: `badge badge-auction-${a.state}` }, msg(`auction.state_${a.state}`)),
    );
    const facts = h(
      "div",
      { class: "auction-facts" },
      h("p", { class: "fact" }, h("span", { class: "fact-k" }, msg("auction.current")), h("b", { id: "auction-price", class: "auction-price" }, money(a.price, a.currency))),
      h("p", { class: "fact" }, h("span", { class: "fact-k" }, msg("auction.leader")), h("b", { id: "auction-leader" }, a.leader ? (a.leader_vid === me ? t("auction.leader_you") : a.leader) : t("auction.no_bids"))),
      running
        ? h("p", { class: "fact" }, h("span", { class: "fact-k" }, msg("auction.time_left")), (this.timer = h("b", { id: "auction-time", class: "auction-time", role: "timer", "aria-live": "off" }, this._left(a))))
        : null,
    );
    if (!running) this.timer = null;
    const parts = [head, p ? h("p", { class: "auction-product", text: p.name }) : null, facts];
    if (running) {
      const next = a.next_bid;
      const tap = h("button", { class: "btn btn-primary btn-block bid-btn", type: "button", id: "bid-next", disabled: this.busy || a.leader_vid === me }, t("auction.bid_next", { price: money(next, a.currency) }));
      tap.addEventListener("click", () => this.bid(next));
      const maxIn = h("input", { class: "field", id: "max-bid", inputmode: "decimal", placeholder: toMajor(next, a.currency), "aria-describedby": "max-bid-hint" });
      const maxForm = h(
        "form",
        { class: "max-form", id: "max-form", "aria-label": msg("auction.max_label") },
        h("label", { class: "lbl", for: "max-bid" }, msg("auction.max_label")),
        h("div", { class: "max-row" }, maxIn, h("button", { class: "btn", type: "submit", id: "max-set", disabled: this.busy }, msg("auction.max_set"))),
        h("p", { class: "faint", id: "max-bid-hint" }, msg("auction.max_hint")),
      );
      maxForm.addEventListener("submit", (ev) => {
        ev.preventDefault();
        const minor = toMinor(maxIn.value, a.currency);
        if (!Number.isFinite(minor) || minor < next) {
          this.error = t("auction.max_too_low", { price: money(next, a.currency) });
          this.render(true);
          return;
        }
        this.bid(minor);
      });
      const card = h("input", { class: "field card-input", id: "auction-card", inputmode: "numeric", autocomplete: "cc-number", value: this.card });
      card.addEventListener("input", () => (this.card = card.value));
      parts.push(
        h("p", { class: "auction-next", id: "auction-next" }, msg("auction.next_bid", { price: money(next, a.currency) })),
        this.outbid ? h("p", { class: "auction-outbid", id: "auction-outbid", role: "alert" }, msg("auction.outbid")) : null,
        a.leader_vid === me ? h("p", { class: "auction-leading", id: "auction-leading", role: "status" }, msg("auction.leading")) : null,
        tap,
        maxForm,
        h("label", { class: "lbl", for: "auction-card" }, msg("auction.card")),
        card,
        h("p", { class: "faint" }, msg("auction.card_hint")),
      );
    } else {
      parts.push(this._result(a, me));
    }
    parts.push(h("p", { class: "form-error", role: "alert", id: "auction-error", text: this.error }));
    // Every bid redraws the panel: what the viewer is typing, and the focus, stay.
    const focused = this.el.contains(document.activeElement) ? document.activeElement.id : "";
    const typed = this.el.querySelector("#max-bid");
    const kept = typed ? [typed.value, typed.selectionStart, typed.selectionEnd] : null;
    replace(this.el, ...parts);
    const input = this.el.querySelector("#max-bid");
    if (input && kept && kept[0] && !this.clearMax) {
      input.value = kept[0];
      if (focused === "max-bid") input.setSelectionRange(kept[1], kept[2]);
    }
    this.clearMax = false;
    const again = focused ? this.el.querySelector(`#${focused}`) : null;
    if (again) again.focus();
  }

  _result(a, me) {
    const won = a.winner && a.winner.vid === me;
    if (a.state === "sold" && won) {
      return h("div", { class: "auction-result", id: "auction-won", role: "status" }, h("b", {}, msg("auction.you_won", { price: money(a.price, a.currency) })), h("p", { id: "auction-order" }, msg("auction.your_order", { order: a.order_id || "" })));
    }
    if (a.state === "won" && won) return h("p", { class: "auction-result", id: "auction-won", role: "status" }, msg("auction.paying"));
    if (a.state === "unpaid" && won) return h("p", { class: "auction-result", role: "status" }, msg("auction.unpaid_you"));
    if (a.state === "sold" || a.state === "won") return h("p", { class: "auction-result", role: "status" }, msg("auction.sold_to", { name: (a.winner && a.winner.name) || "", price: money(a.price, a.currency) }));
    if (a.state === "unpaid") return h("p", { class: "auction-result", role: "status" }, msg("auction.unpaid"));
    return h("p", { class: "auction-result", role: "status" }, msg("auction.unsold"));
  }

  // -- giveaway ------------------------------------------------------------------------

  markBought() {
    this.bought = true;
    this.renderGiveaway(true);
  }

  _entry(g) {
    const me = this.you();
    if (g.state !== "open") {
      if (!me || !Array.isArray(g.eligible)) return "";
      return g.eligible.includes(me) ? t("giveaway.was_in") : t("giveaway.was_out");
    }
    if (g.rule === "chatted") return this.model.chattedIn === g.id ? t("giveaway.in_chatted") : t("giveaway.enter_chat");
    if (g.rule === "bought") return this.bought ? t("giveaway.in_bought") : t("giveaway.enter_buy");
    const watched = this.connectedAt === null ? 0 : (Date.now() - this.connectedAt) / 1000;
    const need = g.watched_seconds || 0;
    if (watched >= need) return t("giveaway.in_watched");
    return t("giveaway.enter_watch", { n: Math.ceil(need - watched) });
  }

  renderGiveaway(force) {
    const g = this.model.giveaway;
    this.gel.hidden = !g;
    if (!g) return;
    const entry = this._entry(g);
    const left = g.state === "open" ? countdown(Math.max(0, g.ends_at - this.now())) : "";
    const sig = JSON.stringify([g, entry, left, this.you()]);
    if (!force && sig === this.gsig) return;
    this.gsig = sig;
    const p = this.model.products[g.product_id];
    const me = this.you();
    const parts = [
      h("div", { class: "auction-head" }, h("h2", { id: "giveaway-title" }, msg("giveaway.title")), h("span", { class: "badge" }, msg(`giveaway.state_${g.state}`))),
      p ? h("p", { class: "auction-product", text: p.name }) : null,
      h("p", { id: "giveaway-rule" }, msg(`giveaway.rule_${g.rule}`, { n: g.watched_seconds || 0 })),
      entry ? h("p", { id: "giveaway-entry", class: "giveaway-entry", role: "status" }, entry) : null,
    ];
    if (g.state === "open") parts.push(h("p", { id: "giveaway-time" }, msg("giveaway.time_left", { time: left })));
    if (g.state === "drawn" && g.winner) {
      const mine = g.winner.vid === me;
      parts.push(h("p", { id: "giveaway-winner", class: "auction-result", role: "status" }, mine ? msg("giveaway.you_won") : msg("giveaway.winner", { name: g.winner.name })));
      if (mine && g.order_id) parts.push(h("p", { id: "giveaway-order" }, msg("auction.your_order", { order: g.order_id })));
    }
    if (g.state === "no_entrants") parts.push(h("p", { role: "status" }, msg("giveaway.no_entrants")));
    parts.push(h("p", { class: "faint giveaway-proof" }, msg("giveaway.commitment", { hash: g.commitment || "" })));
    if (g.seed) parts.push(h("p", { class: "faint giveaway-proof", id: "giveaway-seed" }, msg("giveaway.seed", { seed: g.seed })));
    replace(this.gel, ...parts);
  }

  relabel() {
    this.sig = null;
    this.render(true);
    this.renderGiveaway(true);
  }
}
