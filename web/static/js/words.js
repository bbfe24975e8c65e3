// Error codes of docs/protocol.md and docs/checkout.md, said in the page's language.
// The server's `message` stays English for machines; a person reads the code's words
// (catalogue keys "error.<code>"), and the message only when the code has none.

import { t } from "./i18n.js";

export const ERROR_CODES = [
  "disconnected",
  "timeout",
  "bad_frame",
  "bad_command",
  "bad_args",
  "forbidden",
  "not_found",
  "rate_limited",
  "bad_token",
  "token_expired",
  "auth_required",
  "too_many_holds",
  "slow_mode",
  "text_empty",
  "text_too_long",
  "text_invalid",
  "blocked_word",
  "muted",
  "banned",
  "unavailable",
  "internal",
  "sale_not_open",
  "sold_out",
  "limit_reached",
  "key_reused",
  "in_progress",
  "hold_expired",
  "payment_declined",
  "payment_timeout",
  "unauthorized",
  "auction_closed",
  "bid_too_low",
  "has_bids",
  "auction_running",
  "giveaway_running",
];
const KNOWN = new Set(ERROR_CODES);

/** A sentence for a reply error `{code, message, retry_after}`. */
export function say(error) {
  if (!error) return "";
  const wait = error.retry_after ? Math.ceil(error.retry_after) : 0;
  if (error.code === "slow_mode" && wait) return t("error.slow_mode_wait", { n: wait });
  if (error.code === "sale_not_open" && wait) return t("error.sale_not_open_wait", { n: wait });
  // bad_args: the message starts with the field's name (a stable identifier, shown as is).
  const field = error.code === "bad_args" && /^([a-z_]+)\b/.exec(error.message || "");
  if (field) return t("error.bad_args_field", { field: field[1] });
  if (KNOWN.has(error.code)) return t(`error.${error.code}`);
  return t("error.other");
}

/** Errors after which retrying the same command (same idempotency key) makes sense. */
export const TRANSIENT = new Set(["disconnected", "timeout", "unavailable", "in_progress", "internal"]);
