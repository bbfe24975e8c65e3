// The pages' languages: one JSON catalogue per language in /static/i18n/, English the
// fallback for any key a catalogue lacks (tests/pure/test_i18n_catalogues.py keeps them
// complete).
//
// Which language: the one picked on the page (kept in localStorage), else the room's
// default language set by its host, else the first of navigator.languages we have,
// else English. Switching redraws in place: nothing is reloaded, no state is lost.
//
//   t("shop.left", { n: 9 })          -> "9 left" / "剩 9 件"
//   h("button", {}, msg("shop.buy"))  -> a text node that follows language switches
//
// Numbers, prices and times go through Intl with the current locale (format.js).

export const LANGS = ["en", "zh-CN"];
export const LANG_NAMES = { en: "English", "zh-CN": "简体中文" };
const LANG_KEY = "livecart:lang";

const catalogues = {};
let lang = "en";
let locale = "en";
let roomDefault = "";
const events = new EventTarget();

/** The supported language for a BCP 47 tag ("zh-Hans-CN" -> "zh-CN"), or "". */
export function matchLang(tag) {
  const t = String(tag || "").toLowerCase();
  if (t === "zh" || t.startsWith("zh-")) return "zh-CN";
  if (t === "en" || t.startsWith("en-")) return "en";
  return "";
}

function saved() {
  try {
    return matchLang(localStorage.getItem(LANG_KEY));
  } catch (_) {
    return "";
  }
}

function fromBrowser() {
  for (const tag of navigator.languages || [navigator.language]) {
    const found = matchLang(tag);
    if (found) return found;
  }
  return "";
}

/** The locale Intl formats with: the browser's own tag when it is of this language. */
function localeFor(l) {
  for (const tag of navigator.languages || [navigator.language]) {
    if (matchLang(tag) === l) {
      try {
        return Intl.getCanonicalLocales(tag)[0];
      } catch (_) {
        break;
      }
    }
  }
  return l;
}

async function load(l) {
  if (catalogues[l]) return;
  try {
    const res = await fetch(`/static/i18n/${l}.json`);
    catalogues[l] = res.ok ? await res.json() : {};
  } catch (_) {
    catalogues[l] = {};
  }
}

export const currentLang = () => lang;
export const currentLocale = () => locale;

function choose() {
  return saved() || roomDefault || fromBrowser() || "en";
}

function apply(next) {
  const changed = next !== lang || !document.documentElement.dataset.lang;
  lang = next;
  locale = localeFor(next);
  document.documentElement.lang = next;
  document.documentElement.dataset.lang = next;
  if (!changed) return;
  translateDocument();
  events.dispatchEvent(new CustomEvent("change", { detail: lang }));
}

/** Pick the language the user chose on the page; kept for next visits. */
export function setLang(next) {
  const l = matchLang(next) || "en";
  try {
    localStorage.setItem(LANG_KEY, l);
  } catch (_) {
    // kept for this page only
  }
  apply(l);
}

/** The room's default language (from its host); used unless the user picked one. */
export function setRoomDefault(tag) {
  roomDefault = matchLang(tag);
  apply(choose());
}

/** Run `fn` after every language switch (pages redraw their dynamic texts). */
export function onLangChange(fn) {
  events.addEventListener("change", () => fn(lang));
}

const pluralRules = new Map();
function plural(n) {
  let rules = pluralRules.get(locale);
  if (!rules) {
    rules = new Intl.PluralRules(locale);
    pluralRules.set(locale, rules);
  }
  return rules.select(n);
}

const numberFormats = new Map();
function number(n) {
  let fmt = numberFormats.get(locale);
  if (!fmt) {
    fmt = new Intl.NumberFormat(locale);
    numberFormats.set(locale, fmt);
  }
  return fmt.format(n);
}

/** The message `key` in the current language (English when missing), `{name}` filled in
 * from `params` (numbers formatted for the locale). A value may be an object of plural
 * forms ({one, other}) chosen by `params.n`. */
export function t(key, params = {}) {
  let value = (catalogues[lang] || {})[key];
  if (value === undefined) value = (catalogues.en || {})[key];
  if (value === undefined) return key;
  if (typeof value === "object") {
    const n = Number(params.n ?? 0);
    value = value[plural(n)] ?? value.other ?? "";
  }
  return value.replace(/\{(\w+)\}/g, (whole, name) => {
    if (!(name in params)) return whole;
    const v = params[name];
    return typeof v === "number" ? number(v) : String(v);
  });
}

/** A message that stays translated: text nodes and attributes made from it by `h()` are
 * redrawn on every language switch. */
export class Msg {
  constructor(key, params) {
    this.key = key;
    this.params = params || {};
  }

  toString() {
    return t(this.key, this.params);
  }
}

export const msg = (key, params) => new Msg(key, params);

// Nodes made from a Msg, by weak reference: [WeakRef(node), Msg, attribute or null].
let bound = [];
let sinceSweep = 0;

/** Keep `node` (a text node, or an element's attribute `attr`) in `m`'s language. */
export function bind(node, m, attr = null) {
  bound.push([new WeakRef(node), m, attr]);
  if (++sinceSweep > 500) {
    sinceSweep = 0;
    bound = bound.filter(([ref]) => ref.deref() !== undefined);
  }
}

function translateDocument() {
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":").map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
  const live = [];
  for (const entry of bound) {
    const [ref, m, attr] = entry;
    const node = ref.deref();
    if (!node) continue;
    live.push(entry);
    if (attr) node.setAttribute(attr, String(m));
    else node.data = String(m);
  }
  bound = live;
}

/** A language picker (<select>) that switches in place. */
export function langPicker(h, id = "lang-select") {
  const select = h(
    "select",
    { class: "lang-select", id, "aria-label": msg("lang.label") },
    LANGS.map((l) => h("option", { value: l, lang: l, text: LANG_NAMES[l] })),
  );
  select.value = lang;
  select.addEventListener("change", () => setLang(select.value));
  onLangChange((l) => {
    select.value = l;
  });
  return select;
}

await Promise.all(LANGS.map(load));
apply(choose());
