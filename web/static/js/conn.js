// The room's WebSocket (docs/protocol.md), for the viewer room and the host studio.
//
//   const conn = new RoomConnection("demo", { name: "Alice" });
//   conn.addEventListener("frame", (e) => model.applyFrame(e.detail)); // snapshot|resume|batch
//   conn.addEventListener("status", (e) => ...);  // connecting | open | retrying | closed
//   conn.start();
//   const data = await conn.command("chat", { text: "hi" }); // rejects with CommandError
//
// - Reconnects by itself: 0.5 s doubling to 10 s, plus up to 30% jitter; the backoff
//   starts again once a first frame (snapshot or resume) arrived.
// - Resumes: the next connection carries `since`/`epoch` of the last applied event, so
//   the server replays what was missed (or sends a fresh snapshot). They describe the
//   state this page holds in memory, so they live in memory too: after a reload the page
//   starts from a snapshot. The viewer token (`vid`, the identity: per-buyer limits,
//   mutes) is kept in localStorage across reloads.
// - Commands carry ids and resolve with the reply's `data`, or reject with a
//   CommandError carrying the reply's code; on a lost connection every pending command
//   rejects with code "disconnected".
// - Close codes 4001 (wrong host token), 4003 (banned) and 4004 (no such room) end the
//   connection for good ("closed" with the code); the others retry.

const PROTOCOL = "livecart.v1.json";
const BACKOFF_MIN = 500;
const BACKOFF_MAX = 10_000;
const PING_EVERY = 15_000;
const FINAL_CODES = new Set([4001, 4003, 4004]);
const VID_KEY = "livecart:vid";

export class CommandError extends Error {
  constructor(error) {
    super(error.message || error.code);
    this.name = "CommandError";
    this.code = error.code;
    this.retryAfter = error.retry_after;
    this.error = error;
  }
}

function storage(kind) {
  try {
    return kind === "session" ? window.sessionStorage : window.localStorage;
  } catch (_) {
    return null; // storage disabled: the page still works, without a kept identity
  }
}

export class RoomConnection extends EventTarget {
  /**
   * @param {string} room
   * @param {{name?: string, token?: string, commandTimeout?: number}} options
   *   `token`: the host token; the identity then lives in sessionStorage only.
   */
  constructor(room, options = {}) {
    super();
    this.room = room;
    this.name = options.name || "";
    this.token = options.token || "";
    this.commandTimeout = options.commandTimeout || 15_000;
    this.status = "idle";
    this.closeCode = null;
    this.epoch = null;
    this.seq = null;
    this.clockOffset = 0; // server time - local time, ms
    this._store = storage(this.token ? "session" : "local");
    this._ws = null;
    this._running = false;
    this._backoff = BACKOFF_MIN;
    this._nextId = 1;
    this._pending = new Map();
    this._retryTimer = null;
    this._pingTimer = null;
  }

  /** Server time now, in ms since the epoch (for sale countdowns). */
  now() {
    return Date.now() + this.clockOffset;
  }

  start() {
    if (this._running) return;
    this._running = true;
    this._connect();
  }

  stop() {
    this._running = false;
    clearTimeout(this._retryTimer);
    clearInterval(this._pingTimer);
    const ws = this._ws;
    this._ws = null;
    if (ws) ws.close(1000);
    this._failPending("disconnected", "connection closed");
    this._setStatus("closed");
  }

  /** Reconnect now (e.g. with a new display name), resuming where this page is. */
  reconnect() {
    if (!this._running) return;
    clearTimeout(this._retryTimer);
    const ws = this._ws;
    this._ws = null;
    if (ws) ws.close(1000);
    this._failPending("disconnected", "reconnecting");
    this._backoff = BACKOFF_MIN;
    this._connect();
  }

  /** Send a command; resolves with the reply's `data`. */
  command(cmd, args = {}, timeout = this.commandTimeout) {
    const ws = this._ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this.status !== "open") {
      return Promise.reject(new CommandError({ code: "disconnected", message: "not connected" }));
    }
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new CommandError({ code: "timeout", message: "no reply" }));
      }, timeout);
      this._pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ id, cmd, ...args }));
    });
  }

  _url() {
    const u = new URL(`/ws/${encodeURIComponent(this.room)}`, location.href);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    if (this.name) u.searchParams.set("name", this.name);
    const vid = this._store && this._store.getItem(VID_KEY);
    if (vid) u.searchParams.set("vid", vid);
    if (this.epoch !== null && this.seq !== null) {
      u.searchParams.set("since", String(this.seq));
      u.searchParams.set("epoch", this.epoch);
    }
    return u.href;
  }

  _connect() {
    this._setStatus(this.epoch === null ? "connecting" : "retrying");
    let ws;
    try {
      // The host token rides as a second offered subprotocol (the server answers with
      // the wire format alone), never in the URL: proxies log URLs (docs/protocol.md).
      ws = new WebSocket(this._url(), this.token ? [PROTOCOL, `livecart.auth.${this.token}`] : PROTOCOL);
    } catch (_) {
      this._scheduleRetry();
      return;
    }
    this._ws = ws;
    ws.onmessage = (ev) => {
      if (this._ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      this._onFrame(frame);
    };
    ws.onclose = (ev) => {
      if (this._ws !== ws) return;
      this._ws = null;
      clearInterval(this._pingTimer);
      this._failPending("disconnected", "connection lost");
      this.closeCode = ev.code;
      if (FINAL_CODES.has(ev.code)) {
        this._running = false;
        this._setStatus("closed");
        return;
      }
      if (this._running) this._scheduleRetry();
    };
  }

  _scheduleRetry() {
    this._setStatus("retrying");
    const delay = this._backoff * (1 + Math.random() * 0.3);
    this._backoff = Math.min(this._backoff * 2, BACKOFF_MAX);
    this._retryTimer = setTimeout(() => {
      if (this._running) this._connect();
    }, delay);
  }

  _onFrame(frame) {
    if (frame.t === "reply") {
      const pending = this._pending.get(frame.id);
      if (!pending) return;
      this._pending.delete(frame.id);
      clearTimeout(pending.timer);
      if (frame.ok) pending.resolve(frame.data || {});
      else pending.reject(new CommandError(frame.error || { code: "internal" }));
      return;
    }
    if (frame.t === "snapshot" || frame.t === "resume") {
      this.epoch = frame.epoch;
      this.seq = frame.seq;
      if (frame.you && frame.you.token && this._store) {
        this._store.setItem(VID_KEY, frame.you.token);
      }
      this._backoff = BACKOFF_MIN;
      this._setStatus("open");
      this._startPings();
    } else if (frame.t === "batch") {
      for (const ev of frame.events || []) {
        if (typeof ev.seq === "number" && ev.seq > (this.seq || 0)) this.seq = ev.seq;
      }
    }
    this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
  }

  _startPings() {
    clearInterval(this._pingTimer);
    const ping = async () => {
      const sent = Date.now();
      try {
        const data = await this.command("ping", {}, 10_000);
        const back = Date.now();
        if (typeof data.ts === "number") this.clockOffset = data.ts - (sent + back) / 2;
      } catch (err) {
        // No answer in 10 s on an open socket: it is dead; drop it and reconnect.
        const ws = this._ws;
        if (err.code === "timeout" && ws && this._running) {
          this._ws = null;
          clearInterval(this._pingTimer);
          ws.close(4000);
          this._failPending("disconnected", "connection lost");
          this._scheduleRetry();
        }
      }
    };
    ping();
    this._pingTimer = setInterval(ping, PING_EVERY);
  }

  _failPending(code, message) {
    for (const { reject, timer } of this._pending.values()) {
      clearTimeout(timer);
      reject(new CommandError({ code, message }));
    }
    this._pending.clear();
  }

  _setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.dispatchEvent(new CustomEvent("status", { detail: status }));
  }
}
