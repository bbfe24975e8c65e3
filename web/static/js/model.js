// The room as this page knows it, rebuilt from snapshot / resume / batch frames.
// Pure data: no DOM, no socket. `applyFrame` returns what changed so a page redraws
// only that:
//   { reset, room, products, lineup, pin, sales, you, auction, giveaway,
//     chat: [new messages], deleted: [message ids], moderation: [events],
//     live: {changed live values} }
// The auction and the giveaway are the server's latest objects (docs/protocol.md);
// `serverNow()` is Redis' clock as this page estimates it: from the auction and
// giveaway events' `server_now`, else from the events' `ts`, else the ping's offset.

const MAX_CHAT = 200;

export class RoomModel {
  constructor() {
    this.clear();
  }

  clear() {
    this.seq = null;
    this.room = { id: "", title: "", host: "", status: "scheduled", slow_mode: 0 };
    this.products = {};
    this.lineup = [];
    this.pinned = null;
    this.sales = {};
    this.chat = [];
    this.live = { viewers: 0, hearts_total: 0, explain: [], stock: {} };
    this.you = null;
    this.bannedWords = [];
    this.muted = new Set();
    this.banned = new Set();
    this.names = new Map(); // vid -> display name, from chat
    this.auction = null;
    this.giveaway = null;
    this.chattedIn = null; // the giveaway id this viewer chatted in while it was open
    this.ready = false;
  }

  // Redis' clock minus this page's. Each sample is server_now (the decision's time on
  // Redis' clock) minus the arrival time here, i.e. the true offset minus the delivery
  // delay; the largest recent sample is the closest to the truth.
  _clock(view) {
    if (!view || typeof view.server_now !== "number") return;
    this.clockSamples = [...(this.clockSamples || []).slice(-15), view.server_now - Date.now()];
    this.redisOffset = Math.max(...this.clockSamples);
  }

  /** Redis' time now (ms), for the auction's and the giveaway's ends_at. */
  serverNow(fallbackOffset = 0) {
    let offset = fallbackOffset;
    if (typeof this.redisOffset === "number") offset = this.redisOffset;
    else if (this.tsSamples && this.tsSamples.length) offset = Math.max(...this.tsSamples);
    return Date.now() + offset;
  }

  applyFrame(frame) {
    const changes = { chat: [], deleted: [], moderation: [], live: {} };
    if (frame.t === "snapshot") {
      const keepNames = this.names;
      this.clear();
      this.names = keepNames;
      this.seq = frame.seq;
      this.room = { ...this.room, ...frame.room };
      this.products = { ...frame.products };
      this.lineup = [...(frame.lineup || [])];
      this.pinned = frame.pinned ?? null;
      this.sales = { ...(frame.sales || {}) };
      // The snapshot's server_now is as old as the last change: not a clock sample.
      this.auction = frame.auction || null;
      this.giveaway = frame.giveaway || null;
      if (frame.banned_words) this.bannedWords = [...frame.banned_words];
      for (const msg of frame.chat || []) this._chat(msg);
      this._you(frame.you);
      this._live(frame.live || {}, changes);
      this.ready = true;
      changes.reset = true;
      return changes;
    }
    if (frame.t === "resume") {
      this._you(frame.you);
      changes.you = true;
      for (const ev of frame.events || []) this._next(ev, changes);
      this._live(frame.live || {}, changes);
      return changes;
    }
    if (frame.t === "batch") {
      for (const ev of frame.events || []) this._next(ev, changes);
      this._live(frame.live || {}, changes);
      if (frame.skipped) changes.skipped = frame.skipped;
    }
    return changes;
  }

  // Apply an event once: the first batch after a snapshot may repeat events the
  // snapshot already holds (protocol.md, "Sequenced events").
  _next(ev, changes) {
    if (typeof ev.ts === "number") {
      // The node's clock, a fallback until an auction event gives Redis' own.
      this.tsSamples = [...(this.tsSamples || []).slice(-15), ev.ts - Date.now()];
    }
    if (typeof ev.seq === "number") {
      if (this.seq !== null && ev.seq <= this.seq) return;
      this.seq = ev.seq;
    }
    this._event(ev, changes);
  }

  _you(you) {
    if (you) this.you = { ...you };
  }

  _chat(msg) {
    this.chat.push(msg);
    if (this.chat.length > MAX_CHAT) this.chat.splice(0, this.chat.length - MAX_CHAT);
    if (msg.user && msg.user.vid) this.names.set(msg.user.vid, msg.user.name);
  }

  _event(ev, changes) {
    switch (ev.type) {
      case "chat":
        this._chat(ev);
        changes.chat.push(ev);
        if (this.giveaway && this.giveaway.state === "open" && this.isMine(ev)) {
          this.chattedIn = this.giveaway.id;
          changes.giveaway = true;
        }
        break;
      case "auction":
        // Events of bids decided in parallel may come in another order than Redis
        // decided them: an older version of the same auction changes nothing.
        if (this.auction && ev.auction && this.auction.id === ev.auction.id &&
            this.auction.version && ev.auction.version &&
            ev.auction.version <= this.auction.version) {
          break;
        }
        this.auction = ev.auction;
        this._clock(ev.auction);
        changes.auction = true;
        break;
      case "giveaway":
        this.giveaway = ev.giveaway;
        this._clock(ev.giveaway);
        changes.giveaway = true;
        break;
      case "chat_deleted":
        this.chat = this.chat.filter((m) => m.id !== ev.id);
        changes.deleted.push(ev.id);
        break;
      case "room":
        this.room = { ...this.room, ...ev.room };
        changes.room = true;
        break;
      case "product":
        this.products[ev.product.id] = ev.product;
        if (!this.lineup.includes(ev.product.id)) this.lineup.push(ev.product.id);
        changes.products = true;
        break;
      case "lineup":
        this.lineup = [...ev.lineup];
        changes.lineup = true;
        break;
      case "pin":
        this.pinned = ev.product_id ?? null;
        changes.pin = true;
        break;
      case "sale":
        if (ev.sale) this.sales[ev.product_id] = ev.sale;
        else delete this.sales[ev.product_id];
        // The sale's own count is newer than the live stock until the next live value
        // (a closed or re-opened sale must not show the old sale's units left).
        if (this.live.stock) delete this.live.stock[ev.product_id];
        changes.sales = true;
        break;
      case "moderation": {
        const set = ev.action === "mute" || ev.action === "unmute" ? this.muted : this.banned;
        if (ev.action === "mute" || ev.action === "ban") set.add(ev.vid);
        else set.delete(ev.vid);
        if (this.you && ev.vid === this.you.vid && (ev.action === "mute" || ev.action === "unmute")) {
          this.you.muted = ev.action === "mute";
          changes.you = true;
        }
        changes.moderation.push(ev);
        break;
      }
      default:
        break;
    }
  }

  _live(live, changes) {
    for (const [key, value] of Object.entries(live)) {
      if (key === "hearts") continue; // a delta, handled by the page
      this.live[key] = value;
    }
    if (typeof live.hearts === "number") {
      this.live.hearts_total = (this.live.hearts_total || 0) + live.hearts;
    }
    Object.assign(changes.live, live);
  }

  /** Units left in the product's sale (live `stock`, else the sale event's own count),
   * or null without one. */
  unitsLeft(pid) {
    const stock = this.live.stock || {};
    if (pid in stock) return stock[pid];
    const sale = this.sales[pid];
    if (!sale) return null;
    return sale.units_left ?? sale.units ?? null;
  }

  /** Requests for "explain this" per product id. */
  explainCounts() {
    return new Map(this.live.explain || []);
  }

  isMine(msg) {
    return Boolean(this.you && msg.user && msg.user.vid === this.you.vid);
  }
}
