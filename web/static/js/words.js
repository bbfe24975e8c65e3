// Error codes of docs/protocol.md and docs/checkout.md, said in words.

const WORDS = {
  disconnected: "Connection lost. Retrying…",
  timeout: "No answer from the server. Try again.",
  bad_frame: "Something went wrong sending that. Try again.",
  bad_command: "This page is out of date. Reload it.",
  forbidden: "You can't do that here.",
  not_found: "That no longer exists.",
  rate_limited: "You're going a bit fast. Try again in a moment.",
  slow_mode: "Slow mode is on.",
  text_empty: "Type a message first.",
  text_too_long: "That message is too long (280 characters at most).",
  text_invalid: "That message has characters that can't be sent.",
  blocked_word: "That message has a word the host doesn't allow.",
  muted: "The host muted you.",
  banned: "You were removed from this room.",
  unavailable: "The shop is briefly unavailable. Try again.",
  internal: "Something broke on our side. Try again.",
  sale_not_open: "The sale isn't open.",
  sold_out: "Sold out.",
  limit_reached: "You've reached the limit per buyer for this sale.",
  key_reused: "That purchase changed. Tap again to start over.",
  in_progress: "Your payment is still being processed…",
  hold_expired: "Your hold on this item ran out. Buy it again.",
  payment_declined: "Your card was declined. Nothing was charged.",
  payment_timeout: "The payment didn't go through in time. Nothing was charged.",
  unauthorized: "That host token doesn't open this room.",
};

/** A sentence for a reply error `{code, message, retry_after}`. */
export function say(error) {
  if (!error) return "";
  const base = WORDS[error.code];
  const wait = error.retry_after ? Math.ceil(error.retry_after) : 0;
  if (error.code === "slow_mode" && wait) return `Slow mode is on: you can write again in ${wait} s.`;
  if (error.code === "sale_not_open" && wait) return `The sale opens in ${wait} s.`;
  if (error.code === "sold_out" && error.message) return `Sold out: ${error.message}.`;
  if (error.code === "bad_args" && error.message) return `Check this: ${error.message}.`;
  if (base) return base;
  return error.message || "Something went wrong. Try again.";
}

/** Errors after which retrying the same command (same idempotency key) makes sense. */
export const TRANSIENT = new Set(["disconnected", "timeout", "unavailable", "in_progress", "internal"]);
