// Formatting and small pure helpers shared by the pages.

const moneyFormats = new Map();

function moneyFormat(currency) {
  let fmt = moneyFormats.get(currency);
  if (!fmt) {
    try {
      fmt = new Intl.NumberFormat(undefined, { style: "currency", currency });
    } catch (_) {
      fmt = new Intl.NumberFormat(undefined, { style: "currency", currency: "XXX" });
    }
    moneyFormats.set(currency, fmt);
  }
  return fmt;
}

/** Digits of the currency's minor unit (2 for USD/CNY, 0 for JPY). */
export function minorDigits(currency) {
  return moneyFormat(currency).resolvedOptions().maximumFractionDigits;
}

/** Format an integer amount in minor units (cents, fen) in its currency. */
export function money(minor, currency) {
  const value = Number(minor) / 10 ** minorDigits(currency);
  return moneyFormat(currency).format(value);
}

/** "129.00" (major units, as typed) -> 12900 minor units; NaN when not a number. */
export function toMinor(text, currency) {
  const cleaned = String(text).trim().replace(",", ".");
  if (!/^\d+(\.\d+)?$/.test(cleaned)) return NaN;
  return Math.round(Number(cleaned) * 10 ** minorDigits(currency));
}

/** 12900 -> "129.00" for an input field. */
export function toMajor(minor, currency) {
  const digits = minorDigits(currency);
  return (Number(minor) / 10 ** digits).toFixed(digits);
}

const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
export const count = (n) => compact.format(Number(n) || 0);

/** A duration in ms as "45 s", "4:05", "1:02:03". */
export function countdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const hrs = Math.floor(total / 3600);
  const min = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  if (hrs) return `${hrs}:${String(min).padStart(2, "0")}:${String(sec).padStart(2, "0")}`;
  if (min) return `${min}:${String(sec).padStart(2, "0")}`;
  return `${sec} s`;
}

/** The sale's state now: "scheduled", "open" or "closed" (the server computes it the same way). */
export function saleState(sale, now) {
  if (!sale) return null;
  if (sale.state === "closed") return "closed";
  if (sale.opens_at && now < sale.opens_at) return "scheduled";
  if (sale.ends_at && now >= sale.ends_at) return "closed";
  return "open";
}

/** A fresh idempotency key: 32 characters of [0-9a-f]. */
export function newKey() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") {
    return crypto.randomUUID().replaceAll("-", "");
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // plain-http pages lack randomUUID
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The room id from /live/<room> or /studio/<room>. */
export function roomFromPath(path = location.pathname) {
  const parts = path.split("/").filter(Boolean);
  return decodeURIComponent(parts[1] || "");
}

export function timeOfDay(ms) {
  return new Date(ms).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}
