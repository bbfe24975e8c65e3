// The room as this page knows it, rebuilt from snapshot / resume / batch frames.
// Pure data: no DOM, no socket. `applyFrame` returns what changed so a page redraws
// only that:
//   { reset, room, products, lineup, pin, sales, you, chat: [new messages],
//     deleted: [message ids], moderation: [events], live: {changed live values} }

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
    this.ready = false;
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

  /** Units left in the product's sale (live `stock`), or null without one. */
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
