// One room over one WebSocket (docs/protocol.md), reconnecting and resuming by itself:
// the thin pump around `ClientProtocol` (protocol.js), which decides what each frame
// means. The pages' own connection (web/static/js/conn.js) is this class.
//
//   const room = new RoomClient({ url: "https://shop.example", room: "demo", name: "Alice" });
//   room.on("snapshot", (s) => render(s));        // a fresh room: drop what you hold
//   room.on("event", (e) => apply(e));             // each sequenced event once, in order
//   room.start();
//   await room.ready();
//   const seq = await room.chat("hi");             // rejects with CommandError (`code`)
//
// - Speaks livecart.v1.json; the host token rides as a second offered subprotocol
//   (livecart.auth.<token>), never in the URL.
// - Reconnects by itself: 0.5 s doubling to 10 s, plus up to 30 % jitter; the backoff
//   starts again once a first frame (snapshot or resume) arrived. The next connection
//   carries `since`/`epoch` of the last applied event and the viewer token, so the server
//   replays what was missed (`resumed`, then the events) or sends a fresh `snapshot`.
// - Close codes 4001 (wrong host token), 4003 (banned) and 4004 (no such room) end it for
//   good (`closed`, status "closed"); the others retry.
// - Commands resolve with the reply's `data` or reject with a CommandError carrying the
//   reply's code; on a lost connection every pending command rejects with "disconnected".
// - Pings every 15 s: the answer gives the server's clock (`now()`), and no answer in
//   10 s means the socket is dead: it is dropped and the client reconnects.
//
// It needs no DOM: a WebSocket constructor (the option `WebSocket`, else the global one),
// timers, JSON. Mini-program shells pass an adapter with the WHATWG WebSocket members.

import { Closed, CommandError, FINAL_CLOSE_CODES } from "./errors.js";
import { Backoff, ClientProtocol } from "./protocol.js";

export const PROTOCOL = "livecart.v1.json";
const OPEN = 1; // WebSocket.OPEN
const PING_EVERY = 15_000;
const PING_TIMEOUT = 10_000;
const COMMAND_TIMEOUT = 15_000;
const DEAD_SOCKET = 4000; // the close code this client sends a socket that stopped answering

/**
 * @typedef {import("./wire.js").WebSocketLike} WebSocketLike
 * @typedef {import("./wire.js").WebSocketConstructor} WebSocketConstructor
 * @typedef {import("./wire.js").RoomEvent} RoomEvent
 * @typedef {import("./wire.js").RoomFrame} RoomFrame
 * @typedef {import("./wire.js").SnapshotFrame} SnapshotFrame
 * @typedef {import("./wire.js").LiveValues} LiveValues
 * @typedef {import("./wire.js").WireObject} WireObject
 * @typedef {import("./protocol.js").Resumed} Resumed
 * @typedef {import("./protocol.js").Position} Position
 *
 * @typedef {"idle" | "connecting" | "open" | "retrying" | "closed"} Status
 *
 * @typedef {object} ClientEvents  what `on(type, listener)` hands each listener
 * @property {Status} status  idle -> connecting -> open, retrying -> open, ... -> closed
 * @property {RoomFrame} frame  every snapshot, resume and batch, with only the new events
 *   (for a renderer that applies whole frames; the typed events below follow it)
 * @property {SnapshotFrame} snapshot  the whole room: the join's, or a fresh one after a
 *   gap or a replaced room (`recovered: false`): drop what you hold and start from it
 * @property {Resumed} resumed  a reconnect resumed; the events it missed follow
 * @property {RoomEvent} event  one sequenced event: exactly once, in order
 * @property {LiveValues} live  live values a batch changed
 * @property {number} skipped  chat events the server left out for this slow reader
 * @property {{code: number, reason: string}} disconnected  the socket dropped; retrying
 * @property {Closed} closed  the end: `stop()` (code null) or a final close code
 *
 * @typedef {object} RoomClientOptions
 * @property {string} url  the server: `https://host[:port]` (or `http`, `ws`, `wss`)
 * @property {string} room  the room id
 * @property {string} [name]  display name
 * @property {string} [token]  the room's host token: joins as host
 * @property {string | null} [viewerToken]  `you.token` of an earlier connection (the identity)
 * @property {Position | null} [resumeFrom]  a position kept from an earlier connection
 * @property {WebSocketConstructor} [WebSocket]  default: the global WebSocket
 * @property {number} [commandTimeout]  ms, default 15000
 * @property {number} [pingInterval]  ms, default 15000; 0: no pings
 * @property {{first?: number, limit?: number, random?: () => number}} [backoff]  ms
 *
 * @typedef {object} Pending
 * @property {(data: WireObject) => void} resolve
 * @property {(error: Error) => void} reject
 * @property {any} timer
 */

/**
 * `ws(s)://host/ws/<room>?<query>` from a server's `http(s)://` or `ws(s)://` base URL.
 * @param {string} base
 * @param {string} room
 * @param {{[key: string]: string}} query
 */
export function roomUrl(base, room, query) {
  const match = /^(https?|wss?):\/\/([^/?#]+)([^?#]*)/i.exec(base);
  if (!match) throw new TypeError(`not an http(s) or ws(s) URL: ${base}`);
  const scheme = { http: "ws", https: "wss", ws: "ws", wss: "wss" }[match[1].toLowerCase()];
  const path = `${match[3].replace(/\/+$/, "")}/ws/${encodeURIComponent(room)}`;
  const pairs = Object.entries(query).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  return `${scheme}://${match[2]}${path}${pairs.length ? `?${pairs.join("&")}` : ""}`;
}

/** A fresh idempotency key for `buy`, `pay`, `bid` (22 characters of [A-Za-z0-9_-]). */
export function newKey() {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const bytes = new Uint8Array(22);
  const crypto = /** @type {{crypto?: {getRandomValues?: (a: Uint8Array) => Uint8Array}}} */ (globalThis).crypto;
  if (crypto && crypto.getRandomValues) crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => alphabet[b & 63]).join("");
}

/**
 * @param {unknown} error
 */
function report(error) {
  // A listener's exception must not stop the pump: report it as an event handler's would be.
  setTimeout(() => {
    throw error;
  }, 0);
}

export class RoomClient {
  /** @param {RoomClientOptions} options */
  constructor(options) {
    const WS = options.WebSocket || /** @type {{WebSocket?: WebSocketConstructor}} */ (globalThis).WebSocket;
    if (!WS) throw new TypeError("no WebSocket: pass the option `WebSocket` (e.g. the `ws` package in Node)");
    this.url = options.url;
    this.room = options.room;
    /** The display name; a change takes effect on the next connection (`reconnect()`). */
    this.name = options.name || "";
    /** @private */
    this._token = options.token || "";
    /** @private */
    this._WebSocket = WS;
    this.commandTimeout = options.commandTimeout ?? COMMAND_TIMEOUT;
    this.pingInterval = options.pingInterval ?? PING_EVERY;
    this.protocol = new ClientProtocol({ viewerToken: options.viewerToken, resumeFrom: options.resumeFrom });
    this.backoff = new Backoff(options.backoff);
    /** @type {Status} */
    this.status = "idle";
    /** @type {number | null} the last socket's close code */
    this.closeCode = null;
    this.closeReason = "";
    /** Server time minus local time, ms (from the pings). */
    this.clockOffset = 0;
    /** @private @type {WebSocketLike | null} */
    this._ws = null;
    /** @private */
    this._running = false;
    /** @private @type {Closed | null} */
    this._ended = null;
    /** @private @type {Map<number, Pending>} */
    this._pending = new Map();
    /** @private @type {Map<string, Set<(value: any) => void>>} */
    this._listeners = new Map();
    /** @private @type {any} */
    this._retryTimer = null;
    /** @private @type {any} */
    this._pingTimer = null;
  }

  /** The epoch of the position (null before the first snapshot). */
  get epoch() {
    return this.protocol.epoch;
  }

  /** The `seq` of the last event applied (null before the first snapshot). */
  get seq() {
    return this.protocol.seq;
  }

  /** This connection's identity, from the last snapshot or resume. */
  get you() {
    return this.protocol.you;
  }

  /** The viewer token to keep (e.g. in storage) and pass back as `viewerToken`. */
  get viewerToken() {
    return this.protocol.viewerToken;
  }

  /** The position to keep and pass back as `resumeFrom`, or null. */
  position() {
    return this.protocol.position();
  }

  /** Server time now, in ms since the Unix epoch (for sale countdowns). */
  now() {
    return Date.now() + this.clockOffset;
  }

  /**
   * Listen to `type`; returns the function that stops listening.
   * @template {keyof ClientEvents} K
   * @param {K} type
   * @param {(value: ClientEvents[K]) => void} listener
   * @returns {() => void}
   */
  on(type, listener) {
    let set = this._listeners.get(type);
    if (!set) this._listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => this.off(type, listener);
  }

  /**
   * @template {keyof ClientEvents} K
   * @param {K} type
   * @param {(value: ClientEvents[K]) => void} listener
   */
  off(type, listener) {
    const set = this._listeners.get(type);
    if (set) set.delete(listener);
  }

  /** Connect (once; it reconnects by itself until `stop()` or a final close code). */
  start() {
    if (this._running || this._ended) return this;
    this._running = true;
    this._connect();
    return this;
  }

  /** Close for good (1000); pending commands reject with "disconnected". */
  stop() {
    if (this._ended) return;
    this._running = false;
    clearTimeout(this._retryTimer);
    clearInterval(this._pingTimer);
    const ws = this._ws;
    this._ws = null;
    if (ws) ws.close(1000);
    this._failPending("disconnected", "connection closed");
    this._end(new Closed(null, "stopped"));
  }

  /** Reconnect now (e.g. with a new `name`), resuming where this client is. */
  reconnect() {
    if (!this._running) return;
    clearTimeout(this._retryTimer);
    clearInterval(this._pingTimer);
    const ws = this._ws;
    this._ws = null;
    if (ws) ws.close(1000);
    this._failPending("disconnected", "reconnecting");
    this.backoff.reset();
    this._connect();
  }

  /**
   * Resolves once the client is open (at once if it is); rejects with `Closed` if it
   * ends first.
   * @returns {Promise<void>}
   */
  ready() {
    if (this._ended) return Promise.reject(this._ended);
    if (this.status === "open") return Promise.resolve();
    return new Promise((resolve, reject) => {
      const offStatus = this.on("status", (status) => {
        if (status !== "open") return;
        offStatus();
        offClosed();
        resolve();
      });
      const offClosed = this.on("closed", (closed) => {
        offStatus();
        offClosed();
        reject(closed);
      });
    });
  }

  /**
   * Send a command; resolves with the reply's `data`. Rejects with CommandError: the
   * reply's code, or "disconnected" (not open, or lost before the reply) or "timeout".
   * @param {string} cmd
   * @param {{[key: string]: unknown}} [args]
   * @param {{timeout?: number}} [options]  ms
   * @returns {Promise<WireObject>}
   */
  command(cmd, args = {}, options = {}) {
    const ws = this._ws;
    if (!ws || ws.readyState !== OPEN || this.status !== "open") {
      return Promise.reject(new CommandError({ code: "disconnected", message: "not connected" }));
    }
    const [id, frame] = this.protocol.command(cmd, args);
    const timeout = options.timeout ?? this.commandTimeout;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new CommandError({ code: "timeout", message: "no reply" }));
      }, timeout);
      this._pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify(frame));
    });
  }

  // -- commands everyone may send (docs/protocol.md, "Client -> server commands") --------

  /** Post a chat message; resolves with its `seq` (also its id). @param {string} text */
  async chat(text) {
    return /** @type {number} */ ((await this.command("chat", { text })).seq);
  }

  /** Send `n` (1-50) heart taps. @param {number} [n] */
  async heart(n = 1) {
    await this.command("heart", { n });
  }

  /** Ask the host to explain a product; resolves with its request count. @param {string} productId */
  async explain(productId) {
    return /** @type {number} */ ((await this.command("explain", { product_id: productId })).requests);
  }

  /** The server's clock (ms since the Unix epoch); also updates `clockOffset`. */
  async ping() {
    const sent = Date.now();
    const data = await this.command("ping", {}, { timeout: PING_TIMEOUT });
    const ts = data.ts;
    if (typeof ts !== "number") throw new CommandError({ code: "internal", message: "ping without ts" });
    this.clockOffset = ts - (sent + Date.now()) / 2;
    return ts;
  }

  /**
   * Reserve `qty` units (docs/checkout.md); resolves with the reservation. Retrying with
   * the same `key` never buys twice.
   * @param {string} productId
   * @param {number} [qty]
   * @param {string} [key]
   */
  async buy(productId, qty = 1, key = newKey()) {
    return /** @type {WireObject} */ ((await this.command("buy", { product_id: productId, qty, key })).reservation);
  }

  /**
   * Pay a reservation; resolves with the order.
   * @param {string} reservationId
   * @param {string} card
   * @param {string} [key]
   */
  async pay(reservationId, card, key = newKey()) {
    const data = await this.command("pay", { reservation_id: reservationId, card, key });
    return /** @type {WireObject} */ (data.order);
  }

  /**
   * Bid in a running auction (docs/auctions.md): `max` is the auction's `next_bid` for a
   * one-tap bid, or more for a max bid.
   * @param {string} auctionId
   * @param {number} max
   * @param {string} [key]
   * @param {string} [card]
   * @returns {Promise<{accepted: boolean, leading: boolean, auction: WireObject}>}
   */
  async bid(auctionId, max, key = newKey(), card) {
    const data = await this.command("bid", { auction_id: auctionId, max, key, ...(card ? { card } : {}) });
    return /** @type {{accepted: boolean, leading: boolean, auction: WireObject}} */ (/** @type {unknown} */ (data));
  }

  /**
   * Sign this connection in with a buyer token (a JWT from the shop's login).
   * @param {string} token
   * @returns {Promise<{buyer: string, expires_at: number}>}
   */
  async buyerAuth(token) {
    const data = await this.command("buyer_auth", { token });
    return /** @type {{buyer: string, expires_at: number}} */ (/** @type {unknown} */ (data));
  }

  // -- the pump ---------------------------------------------------------------------------

  /** @private */
  _connect() {
    this._setStatus(this.epoch === null ? "connecting" : "retrying");
    const query = { ...(this.name ? { name: this.name } : {}), ...this.protocol.query() };
    /** @type {WebSocketLike} */
    let ws;
    try {
      // The host token rides as a second offered subprotocol (the server answers with
      // the wire format alone), never in the URL: proxies log URLs.
      const offer = this._token ? [PROTOCOL, `livecart.auth.${this._token}`] : PROTOCOL;
      ws = new this._WebSocket(roomUrl(this.url, this.room, query), offer);
    } catch (_) {
      this._scheduleRetry();
      return;
    }
    this._ws = ws;
    ws.onmessage = (ev) => {
      if (this._ws !== ws || typeof ev.data !== "string") return;
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      this._onFrame(frame);
    };
    ws.onerror = () => {}; // the close that follows says what happened
    ws.onclose = (ev) => {
      if (this._ws !== ws) return;
      this._ws = null;
      clearInterval(this._pingTimer);
      this._failPending("disconnected", "connection lost");
      this.closeCode = ev.code;
      this.closeReason = ev.reason || "";
      if (FINAL_CLOSE_CODES.includes(ev.code)) {
        this._running = false;
        this._end(new Closed(ev.code, this.closeReason));
        return;
      }
      this._emit("disconnected", { code: ev.code, reason: this.closeReason });
      if (this._running) this._scheduleRetry();
    };
  }

  /** @private */
  _scheduleRetry() {
    this._setStatus("retrying");
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => {
      if (this._running) this._connect();
    }, this.backoff.nextDelay());
  }

  /** @private @param {unknown} raw */
  _onFrame(raw) {
    const got = this.protocol.receive(raw);
    if (got.reply) {
      const reply = got.reply;
      const pending = typeof reply.id === "number" ? this._pending.get(reply.id) : undefined;
      if (!pending || typeof reply.id !== "number") return;
      this._pending.delete(reply.id);
      clearTimeout(pending.timer);
      if (reply.ok) pending.resolve(reply.data || {});
      else pending.reject(CommandError.fromWire(reply.error));
      return;
    }
    if (got.snapshot || got.resumed) {
      this.backoff.reset();
      this._setStatus("open");
      this._startPings();
    }
    if (got.frame) this._emit("frame", got.frame);
    if (got.snapshot) this._emit("snapshot", got.snapshot);
    if (got.resumed) this._emit("resumed", got.resumed);
    for (const event of got.events) this._emit("event", event);
    if (got.live) this._emit("live", got.live);
    if (got.skipped) this._emit("skipped", got.skipped);
  }

  /** @private */
  _startPings() {
    clearInterval(this._pingTimer);
    if (!(this.pingInterval > 0)) return;
    const ping = async () => {
      try {
        await this.ping();
      } catch (err) {
        // No answer in 10 s on an open socket: it is dead; drop it and reconnect.
        const ws = this._ws;
        if (err instanceof CommandError && err.code === "timeout" && ws && this._running) {
          this._ws = null;
          clearInterval(this._pingTimer);
          ws.close(DEAD_SOCKET);
          this._failPending("disconnected", "connection lost");
          this._emit("disconnected", { code: DEAD_SOCKET, reason: "no answer to a ping" });
          this._scheduleRetry();
        }
      }
    };
    ping();
    this._pingTimer = setInterval(ping, this.pingInterval);
  }

  /** @private @param {string} code @param {string} message */
  _failPending(code, message) {
    for (const { reject, timer } of this._pending.values()) {
      clearTimeout(timer);
      reject(new CommandError({ code, message }));
    }
    this._pending.clear();
  }

  /** @private @param {Closed} closed */
  _end(closed) {
    this._ended = closed;
    clearTimeout(this._retryTimer);
    clearInterval(this._pingTimer);
    this._setStatus("closed");
    this._emit("closed", closed);
  }

  /** @private @param {Status} status */
  _setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this._emit("status", status);
  }

  /**
   * @private
   * @template {keyof ClientEvents} K
   * @param {K} type
   * @param {ClientEvents[K]} value
   */
  _emit(type, value) {
    const set = this._listeners.get(type);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(value);
      } catch (error) {
        report(error);
      }
    }
  }
}
