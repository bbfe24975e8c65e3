// What a client call can raise, and the codes of docs/protocol.md.
//
//   Error
//   ├── CommandError   a command did not succeed: `code` is a server code (ERROR_CODES,
//   │                  the server refused it and changed nothing) or one of this client's
//   │                  own (CLIENT_CODES: "disconnected", the connection was lost before
//   │                  the reply and the command may or may not have run; "timeout", no
//   │                  reply in time). Retry `buy`/`pay`/`bid` with the same `key`.
//   └── Closed         the connection ended for good: `stop()` (code null) or a close
//                      code after which reconnecting cannot help (FINAL_CLOSE_CODES)

/** Every error code a server reply can carry (docs/protocol.md and docs/checkout.md). */
export const ERROR_CODES = Object.freeze([
  "bad_frame",
  "bad_command",
  "bad_args",
  "forbidden",
  "not_found",
  "rate_limited",
  "slow_mode",
  "text_empty",
  "text_too_long",
  "text_invalid",
  "blocked_word",
  "muted",
  "banned",
  "bad_token",
  "token_expired",
  "auth_required",
  "unavailable",
  "internal",
  "sale_not_open",
  "sold_out",
  "limit_reached",
  "too_many_holds",
  "key_reused",
  "in_progress",
  "hold_expired",
  "payment_declined",
  "payment_timeout",
  "auction_running",
  "auction_closed",
  "bid_too_low",
  "has_bids",
  "giveaway_running",
]);

/** The client's own codes for a command that got no reply. */
export const CLIENT_CODES = Object.freeze(["disconnected", "timeout"]);

/** The close codes of docs/protocol.md, "Close codes". */
export const CLOSE_CODES = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  TOO_BIG: 1009,
  INTERNAL: 1011,
  TRY_AGAIN_LATER: 1013,
  UNAUTHORIZED: 4001,
  BANNED: 4003,
  NO_SUCH_ROOM: 4004,
  SLOW_CONSUMER: 4008,
});

/** Close codes after which reconnecting cannot help: wrong host token, banned, no room. */
export const FINAL_CLOSE_CODES = Object.freeze([
  CLOSE_CODES.UNAUTHORIZED,
  CLOSE_CODES.BANNED,
  CLOSE_CODES.NO_SUCH_ROOM,
]);

/**
 * @typedef {typeof ERROR_CODES[number]} ErrorCode
 * @typedef {typeof CLIENT_CODES[number]} ClientCode
 */

export class CommandError extends Error {
  /**
   * @param {import("./wire.js").ErrorObject} error  a reply's error object
   */
  constructor(error) {
    super(error.message || error.code);
    this.name = "CommandError";
    /** @type {ErrorCode | ClientCode | string} */
    this.code = error.code;
    /** @type {number | undefined} seconds, with `rate_limited`, `slow_mode`, `in_progress` */
    this.retryAfter = error.retry_after;
    /** @type {import("./wire.js").ErrorObject} the reply's whole error object */
    this.error = error;
  }

  /**
   * The error object of a reply; a malformed one reads as `internal`.
   * @param {unknown} error
   * @returns {CommandError}
   */
  static fromWire(error) {
    if (error && typeof error === "object" && typeof (/** @type {{code?: unknown}} */ (error).code) === "string") {
      return new CommandError(/** @type {import("./wire.js").ErrorObject} */ (error));
    }
    return new CommandError({ code: "internal", message: "malformed error reply" });
  }
}

export class Closed extends Error {
  /**
   * @param {number | null} code  the close code; null after `stop()`
   * @param {string} [reason]
   */
  constructor(code, reason = "") {
    super(reason ? `closed (${code}): ${reason}` : `closed (${code})`);
    this.name = "Closed";
    this.code = code;
    this.reason = reason;
  }
}
