// Formatting and small pure helpers shared by the pages. Every number, price, duration
// and time goes through Intl in the page's locale (i18n.js), never a hand-built string.

import { currentLocale } from "./i18n.js";

const formats = new Map();

/** A cached Intl formatter of `Kind` for the current locale and `options`. */
function cached(Kind, options) {
  const locale = currentLocale();
  const key = `${Kind.name}|${locale}|${JSON.stringify(options)}`;
  let fmt = formats.get(key);
  if (!fmt) {
    fmt = new Kind(locale, options);
    formats.set(key, fmt);
  }
  return fmt;
}

function moneyFormat(currency) {
  try {
    return cached(Intl.NumberFormat, { style: "currency", currency });
  } catch (_) {
    return cached(Intl.NumberFormat, { style: "currency", currency: "XXX" });
  }
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

/** 1234 -> "1.2K" / "1234"; 12000 -> "12K" / "1.2万". */
export const count = (n) =>
  cached(Intl.NumberFormat, { notation: "compact", maximumFractionDigits: 1 }).format(Number(n) || 0);

/** A plain number in the locale ("1,234"). */
export const num = (n) => cached(Intl.NumberFormat, {}).format(Number(n) || 0);

/** A share 0..1 as a percentage ("12.5%"). */
export const percent = (x) =>
  cached(Intl.NumberFormat, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(x);

function parts(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  return { hours: Math.floor(total / 3600), minutes: Math.floor((total % 3600) / 60), seconds: total % 60 };
}

/** A duration in ms for a countdown: "45s" / "45秒" under a minute, else a clock "4:05",
 * "1:02:03" (Intl.DurationFormat for hours, else digits from Intl.NumberFormat). */
export function countdown(ms) {
  const d = parts(ms);
  if (!d.hours && !d.minutes) {
    return cached(Intl.NumberFormat, { style: "unit", unit: "second", unitDisplay: "narrow" }).format(d.seconds);
  }
  if (d.hours && typeof Intl.DurationFormat === "function") {
    return cached(Intl.DurationFormat, { style: "digital" }).format(d);
  }
  // Under an hour: "9:53" (DurationFormat would pad the minutes to "09:53").
  const two = cached(Intl.NumberFormat, { minimumIntegerDigits: 2, useGrouping: false });
  const one = cached(Intl.NumberFormat, { useGrouping: false });
  const tail = `${two.format(d.minutes)}:${two.format(d.seconds)}`;
  return d.hours ? `${one.format(d.hours)}:${tail}` : `${one.format(d.minutes)}:${two.format(d.seconds)}`;
}

/** How far ahead `ms` is, relative to now: "in 9 seconds" / "9秒钟后", "in 5 minutes". */
export function relative(ms) {
  const rtf = cached(Intl.RelativeTimeFormat, { numeric: "auto" });
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return rtf.format(s, "second");
  if (s < 3600) return rtf.format(Math.round(s / 60), "minute");
  if (s < 86_400) return rtf.format(Math.round(s / 3600), "hour");
  return rtf.format(Math.round(s / 86_400), "day");
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

/** A wall-clock time of day ("09:41" / "上午9:41") for chat lines and orders. */
export function timeOfDay(ms) {
  return cached(Intl.DateTimeFormat, { hour: "2-digit", minute: "2-digit" }).format(new Date(ms));
}

/** A list joined the locale's way ("A, B and C" / "A、B和C"). */
export const list = (items) => cached(Intl.ListFormat, { style: "short", type: "unit" }).format(items);

/** The first user-perceived character of `text` (a whole grapheme: emoji, marks, CJK). */
export function firstGrapheme(text) {
  const s = String(text || "").trim();
  if (!s) return "";
  if (typeof Intl.Segmenter === "function") {
    const first = new Intl.Segmenter().segment(s)[Symbol.iterator]().next();
    return first.done ? "" : first.value.segment;
  }
  return Array.from(s)[0];
}
