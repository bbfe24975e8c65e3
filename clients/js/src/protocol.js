// The client's side of docs/protocol.md without I/O: where the client is in the room's
// sequence, what to ask for on a reconnect, and what each server frame means. The same
// rules as the Python client's livecart/client/protocol.py.
//
// `ClientProtocol` keeps the `epoch`, the last `seq` applied and the viewer token.
// `receive(frame)` reads one decoded server frame:
//
// - `snapshot`: the position moves to its `epoch`/`seq` (a fresh join, a resume the
//   server could not answer, or a room it replaced: drop what you hold);
// - `resume`: the events after the position, once each, in order;
// - `batch`: its events after the position (the first batch after a snapshot may repeat
//   events the snapshot already holds), its live values and `skipped`;
// - `reply`: handed back as it is; anything else: ignored (a newer server may add types).
//
// Every event it hands out has a `seq` above the one before it, across any number of
// reconnects: an app sees each event exactly once and in order, and a gap only ever
// shows as a fresh snapshot (`recovered: false`).

/**
 * @typedef {import("./wire.js").RoomEvent} RoomEvent
 * @typedef {import("./wire.js").RoomFrame} RoomFrame
 * @typedef {import("./wire.js").ReplyFrame} ReplyFrame
 * @typedef {import("./wire.js").SnapshotFrame} SnapshotFrame
 * @typedef {import("./wire.js").ResumeFrame} ResumeFrame
 * @typedef {import("./wire.js").LiveValues} LiveValues
 *
 * @typedef {object} Resumed  a reconnect resumed; the events it missed follow
 * @property {string} epoch
 * @property {number} since  the position it resumed from
 * @property {number} seq  the room's seq when it answered
 * @property {import("./wire.js").You} you
 * @property {LiveValues} live
 *
 * @typedef {object} Received  what one frame means; empty when it means nothing
 * @property {RoomFrame} [frame]  the frame with only the events after the position
 * @property {SnapshotFrame} [snapshot]
 * @property {Resumed} [resumed]
 * @property {RoomEvent[]} events  new sequenced events, in order
 * @property {LiveValues} [live]  live values a batch changed
 * @property {number} [skipped]  chat events the server left out for this slow reader
 * @property {ReplyFrame} [reply]
 *
 * @typedef {object} Position  a place in a room's sequence, to resume from
 * @property {string} epoch
 * @property {number} seq
 */

/** @param {unknown} value @returns {value is {[key: string]: any}} */
function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** @param {unknown} value @returns {value is number} */
function isSeq(value) {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

export class ClientProtocol {
  /**
   * @param {{viewerToken?: string | null, resumeFrom?: Position | null}} [options]
   *   `resumeFrom`: a position this app kept (e.g. across a mini-program's hide and show)
   */
  constructor(options = {}) {
    /** @type {string | null} */
    this.viewerToken = options.viewerToken || null;
    /** @type {string | null} */
    this.epoch = options.resumeFrom ? options.resumeFrom.epoch : null;
    /** @type {number | null} */
    this.seq = options.resumeFrom ? options.resumeFrom.seq : null;
    /** @type {import("./wire.js").You | null} */
    this.you = null;
    this._nextId = 1;
  }

  /** `vid`, `since` and `epoch` for the next connection, as far as known. */
  query() {
    /** @type {{[key: string]: string}} */
    const query = {};
    if (this.viewerToken) query.vid = this.viewerToken;
    if (this.epoch !== null && this.seq !== null) {
      query.since = String(this.seq);
      query.epoch = this.epoch;
    }
    return query;
  }

  /** The position to resume from, or null before the first snapshot. */
  position() {
    return this.epoch !== null && this.seq !== null ? { epoch: this.epoch, seq: this.seq } : null;
  }

  /**
   * A fresh command id and the frame to send.
   * @param {string} cmd
   * @param {{[key: string]: unknown}} args
   * @returns {[number, {[key: string]: unknown}]}
   */
  command(cmd, args) {
    if ("id" in args || "cmd" in args) throw new TypeError("id and cmd are not command arguments");
    const id = this._nextId++;
    return [id, { id, cmd, ...args }];
  }

  /**
   * @param {unknown} frame  one decoded server frame
   * @returns {Received}
   */
  receive(frame) {
    if (!isObject(frame)) return { events: [] };
    switch (frame.t) {
      case "reply":
        return { events: [], reply: /** @type {ReplyFrame} */ (frame) };
      case "snapshot":
        return this._snapshot(/** @type {SnapshotFrame} */ (frame));
      case "resume":
        return this._resume(/** @type {ResumeFrame} */ (frame));
      case "batch":
        return this._batch(frame);
      default:
        return { events: [] };
    }
  }

  /** @param {SnapshotFrame} frame @returns {Received} */
  _snapshot(frame) {
    if (typeof frame.epoch !== "string" || !isSeq(frame.seq) || !isObject(frame.you)) {
      return { events: [] }; // unreadable: changes nothing
    }
    this._joined(frame.epoch, frame.seq, frame.you);
    return { frame, snapshot: frame, events: [] };
  }

  /** @param {ResumeFrame} frame @returns {Received} */
  _resume(frame) {
    // The server resumes only in the epoch asked for; anything else is not a resume.
    if (frame.epoch !== this.epoch || this.seq === null || !isObject(frame.you)) return { events: [] };
    if (!Array.isArray(frame.events) || !isSeq(frame.seq)) return { events: [] };
    const since = this.seq;
    const events = this._afterPosition(frame.events);
    this._joined(frame.epoch, this.seq, frame.you);
    const live = isObject(frame.live) ? frame.live : {};
    return {
      frame: { ...frame, events },
      resumed: { epoch: frame.epoch, since, seq: frame.seq, you: frame.you, live },
      events,
    };
  }

  /** @param {{[key: string]: any}} frame @returns {Received} */
  _batch(frame) {
    const raw = Array.isArray(frame.events) ? frame.events : [];
    const events = this._afterPosition(raw);
    /** @type {Received} */
    const out = { frame: /** @type {import("./wire.js").BatchFrame} */ ({ ...frame, t: "batch", events }), events };
    if (isObject(frame.live) && Object.keys(frame.live).length) out.live = frame.live;
    if (isSeq(frame.skipped) && frame.skipped > 0) out.skipped = frame.skipped;
    return out;
  }

  /**
   * The events past the position, which moves to the last of them. An event without an
   * integer `seq` cannot be placed and is dropped.
   * @param {unknown[]} events
   * @returns {RoomEvent[]}
   */
  _afterPosition(events) {
    /** @type {RoomEvent[]} */
    const fresh = [];
    for (const event of events) {
      if (!isObject(event) || !isSeq(event.seq)) continue;
      if (this.seq === null || event.seq > this.seq) {
        fresh.push(/** @type {RoomEvent} */ (event));
        this.seq = event.seq;
      }
    }
    return fresh;
  }

  /**
   * @param {string} epoch
   * @param {number} seq
   * @param {import("./wire.js").You} you
   */
  _joined(epoch, seq, you) {
    this.epoch = epoch;
    this.seq = seq;
    this.you = you;
    if (typeof you.token === "string" && you.token) this.viewerToken = you.token;
  }
}

export const BACKOFF_MIN = 500;
export const BACKOFF_MAX = 10_000;
export const JITTER = 0.3;

/**
 * The protocol's reconnect delays: 0.5 s doubling to 10 s, each plus up to 30 % jitter.
 * `reset()` once a connection got its first frame.
 */
export class Backoff {
  /**
   * @param {{first?: number, limit?: number, random?: () => number}} [options]
   *   milliseconds; `random` returns a number in [0, 1)
   */
  constructor(options = {}) {
    this.first = options.first ?? BACKOFF_MIN;
    this.limit = options.limit ?? BACKOFF_MAX;
    if (!(this.first > 0 && this.first <= this.limit)) throw new RangeError("backoff: need 0 < first <= limit");
    this._random = options.random || Math.random;
    this._next = this.first;
  }

  /** The delay before the next attempt (ms); each call doubles the following one. */
  nextDelay() {
    const delay = this._next * (1 + this._random() * JITTER);
    this._next = Math.min(this._next * 2, this.limit);
    return delay;
  }

  reset() {
    this._next = this.first;
  }
}
