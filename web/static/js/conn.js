// The room's WebSocket (docs/protocol.md), for the viewer room and the host studio: the
// JavaScript client (clients/js, served at /static/client/) with what the pages add to
// it, DOM events and the viewer token kept in the browser's storage.
//
//   const conn = new RoomConnection("demo", { name: "Alice" });
//   conn.addEventListener("frame", (e) => model.applyFrame(e.detail)); // snapshot|resume|batch
//   conn.addEventListener("status", (e) => ...);  // connecting | open | retrying | closed
//   conn.start();
//   const data = await conn.command("chat", { text: "hi" }); // rejects with CommandError
//
// - The client reconnects by itself (0.5 s doubling to 10 s, plus up to 30% jitter) and
//   resumes with `since`/`epoch` of the last applied event; each "frame" carries only the
//   events the page has not applied yet. The position describes the state this page holds
//   in memory, so it lives in memory too: after a reload the page starts from a snapshot.
//   The viewer token (`vid`, the identity: per-buyer limits, mutes) is kept in
//   localStorage across reloads (sessionStorage for the host).
// - Commands resolve with the reply's `data`, or reject with a CommandError carrying the
//   reply's code; on a lost connection every pending command rejects with "disconnected".
// - Close codes 4001 (wrong host token), 4003 (banned) and 4004 (no such room) end the
//   connection for good ("closed" with the code); the others retry.

import { CommandError, RoomClient } from "/static/client/index.js";

export { CommandError };

const VID_KEY = "livecart:vid";

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
    this.token = options.token || "";
    this.status = "idle";
    this.closeCode = null;
    this._store = storage(this.token ? "session" : "local");
    this._client = new RoomClient({
      url: location.origin,
      room,
      name: options.name || "",
      token: this.token,
      viewerToken: this._store && this._store.getItem(VID_KEY),
      commandTimeout: options.commandTimeout || 15_000,
      WebSocket,
    });
    this._client.on("status", (status) => {
      this.closeCode = this._client.closeCode;
      this.status = status;
      this.dispatchEvent(new CustomEvent("status", { detail: status }));
    });
    this._client.on("frame", (frame) => {
      if (frame.t !== "batch" && this._store && this._client.viewerToken) {
        this._store.setItem(VID_KEY, this._client.viewerToken);
      }
      this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
    });
  }

  /** The display name; a change takes effect with `reconnect()`. */
  get name() {
    return this._client.name;
  }

  set name(name) {
    this._client.name = name;
  }

  get commandTimeout() {
    return this._client.commandTimeout;
  }

  get epoch() {
    return this._client.epoch;
  }

  get seq() {
    return this._client.seq;
  }

  /** Server time - local time, ms. */
  get clockOffset() {
    return this._client.clockOffset;
  }

  /** Server time now, in ms since the epoch (for sale countdowns). */
  now() {
    return this._client.now();
  }

  start() {
    this._client.start();
  }

  stop() {
    this._client.stop();
  }

  /** Reconnect now (e.g. with a new display name), resuming where this page is. */
  reconnect() {
    this._client.reconnect();
  }

  /** Send a command; resolves with the reply's `data`. */
  command(cmd, args = {}, timeout = this.commandTimeout) {
    return this._client.command(cmd, args, { timeout });
  }
}
