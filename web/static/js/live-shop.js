// The viewer's shop: pinned product card, lineup drawer ("explain this") and the
// checkout sheet (buy -> pay -> order), all inside the stream.

import { $, h, icon, replace, thumb } from "./dom.js";
import { countdown, money, newKey, relative, saleState } from "./format.js";
import { msg, t } from "./i18n.js";
import { closeSheet, isOpen, openSheet } from "./sheets.js";
import { TRANSIENT, say } from "./words.js";

const TEST_CARD = "4242 4242 4242 4242";

export class Shop {
  constructor(model, conn, notify, announce) {
    this.model = model;
    this.conn = conn;
    this.notify = notify; // (text, kind) -> toast
    this.announce = announce; // (text) -> said at once to screen readers
    this.lastSaid = new Map(); // product id -> the sale state last announced
    this.pinnedEl = $("#pinned");
    this.lineupSheet = $("#lineup-sheet");
    this.checkoutSheet = $("#checkout-sheet");
    this.card = null; // pinned card elements, rebuilt when the pinned product changes
    this.rows = new Map(); // lineup rows by product id
    this.asked = new Set(); // products this page asked to explain
    this.attempts = new Map(); // product id -> purchase attempt (keys reused on retry)
    this.checkout = null; // the open checkout's elements and product id
    this._buildLineupSheet();
    setInterval(() => this.tick(), 500);
  }

  // -- what a product's sale looks like now -----------------------------------------

  offer(pid) {
    const m = this.model;
    const product = m.products[pid];
    const sale = m.sales[pid] || null;
    const now = this.conn.now();
    const state = saleState(sale, now);
    const left = sale ? m.unitsLeft(pid) : null;
    const soldOut = state === "open" && left !== null && left <= 0;
    let note = "";
    if (state === "scheduled") note = t("shop.opens", { when: relative(sale.opens_at - now) });
    else if (soldOut) note = t("shop.sold_out");
    else if (state === "open") {
      note = left !== null ? t("shop.left", { n: left }) : t("shop.on_sale");
      if (sale.ends_at) note = t("shop.ends", { note, time: countdown(sale.ends_at - now) });
    } else if (state === "closed") note = t("shop.ended");
    return {
      product,
      sale,
      state,
      left,
      soldOut,
      buyable: state === "open" && !soldOut,
      price: sale ? sale.price : product.price,
      currency: sale ? sale.currency : product.currency,
      was: sale && sale.price < product.price ? product.price : null,
      note,
    };
  }

  // -- pinned card -------------------------------------------------------------------

  renderPinned() {
    const pid = this.model.pinned;
    const product = pid && this.model.products[pid];
    if (!product) {
      this.pinnedEl.hidden = true;
      this.card = null;
      return;
    }
    const key = `${pid}|${product.image_url}|${product.name}`;
    if (!this.card || this.card.key !== key) {
      const c = { key, pid };
      c.price = h("span", { class: "price" });
      c.was = h("s", { class: "was" });
      c.note = h("span", { class: "pin-note" });
      c.btn = h("button", { class: "btn btn-primary buy-btn", type: "button" });
      c.btn.addEventListener("click", () => this.openCheckout(pid));
      replace(
        this.pinnedEl,
        thumb(product.image_url, product.name, "thumb pin-thumb"),
        h(
          "div",
          { class: "pin-body" },
          h("div", { class: "pin-name", text: product.name }),
          h("div", { class: "pin-price" }, c.price, c.was),
          c.note,
        ),
        c.btn,
      );
      this.card = c;
      this.pinnedEl.dataset.product = pid;
    }
    this._updateCard();
    this.pinnedEl.hidden = false;
  }

  _updateCard() {
    const c = this.card;
    if (!c) return;
    const o = this.offer(c.pid);
    if (!o.product) return;
    c.price.textContent = money(o.price, o.currency);
    c.was.textContent = o.was !== null ? money(o.was, o.product.currency) : "";
    c.note.textContent = o.note;
    c.note.className = `pin-note ${o.state || "none"}${o.soldOut ? " sold-out" : ""}`;
    this.pinnedEl.dataset.sale = o.soldOut ? "sold_out" : o.state || "none";
    let label = "shop.buy";
    if (!o.sale) label = "shop.not_on_sale";
    else if (o.state === "scheduled") label = "shop.soon";
    else if (o.soldOut) label = "shop.sold_out";
    else if (o.state === "closed") label = "shop.ended_short";
    c.btn.textContent = t(label);
    c.btn.setAttribute("aria-label", t("shop.buy_label", { label: t(label), product: o.product.name }));
    this._sayChange(c.pid, o);
    c.btn.disabled = !o.buyable;
    c.btn.hidden = !o.sale;
  }

  tick() {
    this._updateCard();
    for (const pid of this.rows.keys()) this._updateRow(pid);
    if (this.checkout && !this.checkout.done) this._updateCheckoutMeta();
  }

  // -- lineup drawer -----------------------------------------------------------------

  _buildLineupSheet() {
    this.lineupCount = h("span", { class: "faint" });
    this.lineupList = h("ol", { class: "lineup-list" });
    replace(
      this.lineupSheet,
      h("div", { class: "sheet-grip", "aria-hidden": "true" }),
      h(
        "header",
        { class: "sheet-head" },
        h("h2", { id: "lineup-title" }, msg("shop.lineup_title"), " ", this.lineupCount),
        h("button", { class: "icon-btn", type: "button", "aria-label": msg("common.close"), onclick: closeSheet }, icon("close")),
      ),
      h("p", { class: "sheet-sub muted" }, msg("shop.lineup_text")),
      this.lineupList,
    );
  }

  openLineup() {
    this.renderLineup();
    openSheet(this.lineupSheet);
  }

  renderLineup() {
    const m = this.model;
    const ids = m.lineup.filter((pid) => m.products[pid]);
    this.lineupCount.textContent = `· ${ids.length}`;
    for (const pid of [...this.rows.keys()]) {
      if (!ids.includes(pid)) {
        this.rows.get(pid).root.remove();
        this.rows.delete(pid);
      }
    }
    for (const pid of ids) {
      let row = this.rows.get(pid);
      const product = m.products[pid];
      const key = `${product.image_url}|${product.name}`;
      if (!row || row.key !== key) {
        if (row) row.root.remove();
        row = this._row(pid, key);
        this.rows.set(pid, row);
      }
      this.lineupList.append(row.root); // moves existing rows into lineup order
      this._updateRow(pid);
    }
    if (!ids.length) {
      this.lineupList.append(h("li", { class: "empty-row muted" }, msg("shop.lineup_empty")));
    } else {
      for (const el of this.lineupList.querySelectorAll(".empty-row")) el.remove();
    }
  }

  _row(pid, key) {
    const product = this.model.products[pid];
    const r = { key, pid };
    r.price = h("span", { class: "price" });
    r.was = h("s", { class: "was" });
    r.tags = h("div", { class: "row-tags" });
    r.explain = h("button", { class: "btn btn-sm explain-btn", type: "button" });
    r.explain.addEventListener("click", () => this.explain(pid));
    r.buy = h("button", { class: "btn btn-sm btn-primary", type: "button", text: msg("shop.buy"), "aria-label": msg("shop.buy_label", { label: msg("shop.buy"), product: product.name }) });
    r.buy.addEventListener("click", () => this.openCheckout(pid));
    r.root = h(
      "li",
      { class: "lineup-row", dataset: { product: pid } },
      thumb(product.image_url, product.name, "thumb row-thumb"),
      h(
        "div",
        { class: "row-body" },
        h("div", { class: "row-name", text: product.name }),
        h("div", { class: "row-price" }, r.price, r.was),
        r.tags,
      ),
      h("div", { class: "row-actions" }, r.buy, r.explain),
    );
    return r;
  }

  _updateRow(pid) {
    const r = this.rows.get(pid);
    if (!r || !this.model.products[pid]) return;
    const o = this.offer(pid);
    r.price.textContent = money(o.price, o.currency);
    r.was.textContent = o.was !== null ? money(o.was, o.product.currency) : "";
    const tags = [];
    if (this.model.pinned === pid) tags.push(h("span", { class: "badge badge-live" }, t("shop.showing_now")));
    if (o.note) tags.push(h("span", { class: `badge ${o.buyable ? "badge-open" : ""}` }, o.note));
    const sig = tags.map((t) => t.textContent).join("|");
    if (r.tagSig !== sig) {
      replace(r.tags, tags);
      r.tagSig = sig;
    }
    r.buy.hidden = !o.buyable;
    const n = this.model.explainCounts().get(pid) || 0;
    const asked = this.asked.has(pid);
    r.explain.textContent = asked ? t("shop.asked", { n }) : n ? t("shop.explain_n", { n }) : t("shop.explain");
    r.explain.setAttribute("aria-label", t(asked ? "shop.asked_label" : "shop.explain_label", { product: this.model.products[pid].name, n }));
    r.explain.disabled = asked;
    r.explain.classList.toggle("asked", asked);
  }

  async explain(pid) {
    const r = this.rows.get(pid);
    if (r) r.explain.classList.add("busy");
    try {
      const data = await this.conn.command("explain", { product_id: pid });
      this.asked.add(pid);
      const counts = this.model.live.explain || [];
      const entry = counts.find((e) => e[0] === pid);
      if (entry) entry[1] = Math.max(entry[1], data.requests);
      else counts.push([pid, data.requests]);
      this.model.live.explain = counts;
      this.notify(t("shop.explain_sent"), "ok");
    } catch (err) {
      this.notify(say(err), "error");
    } finally {
      if (r) r.explain.classList.remove("busy");
      this._updateRow(pid);
    }
  }

  // -- checkout ----------------------------------------------------------------------

  _attempt(pid) {
    let a = this.attempts.get(pid);
    if (!a) {
      a = { pid, qty: 1, buyKey: null, payKey: null, reservation: null, card: TEST_CARD };
      this.attempts.set(pid, a);
    }
    return a;
  }

  openCheckout(pid) {
    const o = this.offer(pid);
    if (!o.product) return;
    const a = this._attempt(pid);
    const c = { pid, done: false };
    c.price = h("span", { class: "price" });
    c.note = h("span", { class: "checkout-note" });
    c.qty = h("output", { class: "qty-value", "aria-live": "polite" });
    c.minus = h("button", { class: "icon-btn qty-btn", type: "button", "aria-label": msg("shop.one_less"), text: "−" });
    c.plus = h("button", { class: "icon-btn qty-btn", type: "button", "aria-label": msg("shop.one_more"), text: "+" });
    c.limit = h("span", { class: "faint qty-limit" });
    c.total = h("strong", { class: "total-value" });
    c.card = h("input", {
      class: "field card-input",
      id: "card-number",
      inputmode: "numeric",
      autocomplete: "cc-number",
      "aria-label": msg("shop.card_number"),
      value: a.card,
    });
    c.error = h("p", { class: "form-error", role: "alert" });
    c.pay = h("button", { class: "btn btn-primary btn-lg btn-block pay-btn", type: "submit" });
    c.minus.addEventListener("click", () => this._setQty(c, a.qty - 1));
    c.plus.addEventListener("click", () => this._setQty(c, a.qty + 1));
    c.card.addEventListener("input", () => {
      a.card = c.card.value;
      a.payKey = null; // other card, other payment: a new key
    });
    const form = h(
      "form",
      { class: "checkout-form" },
      h(
        "div",
        { class: "checkout-product" },
        thumb(o.product.image_url, o.product.name, "thumb checkout-thumb"),
        h("div", { class: "row-body" }, h("div", { class: "row-name", text: o.product.name }), c.price, c.note),
      ),
      h(
        "div",
        { class: "checkout-line" },
        h("span", {}, msg("shop.quantity"), " ", c.limit),
        h("div", { class: "qty" }, c.minus, c.qty, c.plus),
      ),
      h(
        "label",
        { class: "lbl", for: "card-number" },
        msg("shop.card"),
        c.card,
        h("span", { class: "sandbox-note" }, icon("info", 14), msg("shop.sandbox")),
      ),
      h("div", { class: "checkout-line total-line" }, h("span", {}, msg("shop.total")), c.total),
      c.error,
      c.pay,
    );
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.pay(c, a);
    });
    c.body = h("div", { class: "checkout-body" }, form);
    replace(
      this.checkoutSheet,
      h("div", { class: "sheet-grip", "aria-hidden": "true" }),
      h(
        "header",
        { class: "sheet-head" },
        h("h2", { id: "checkout-title" }, msg("shop.checkout")),
        h("button", { class: "icon-btn", type: "button", "aria-label": msg("common.close"), onclick: closeSheet }, icon("close")),
      ),
      c.body,
    );
    this.checkout = c;
    this._setQty(c, a.qty);
    openSheet(this.checkoutSheet, () => {
      this.checkout = null;
    });
  }

  _maxQty(pid) {
    const o = this.offer(pid);
    const limit = o.sale ? o.sale.limit || 1 : 1;
    const left = o.left === null ? limit : Math.max(1, o.left);
    return Math.max(1, Math.min(limit, left));
  }

  _setQty(c, qty) {
    const a = this._attempt(c.pid);
    if (a.reservation) return; // units are held for this quantity
    const next = Math.max(1, Math.min(qty, this._maxQty(c.pid)));
    if (next !== a.qty) {
      a.qty = next;
      a.buyKey = null; // other quantity, other purchase
    }
    this._updateCheckoutMeta();
  }

  _updateCheckoutMeta() {
    const c = this.checkout;
    if (!c || c.done) return;
    const a = this._attempt(c.pid);
    const o = this.offer(c.pid);
    c.price.textContent = money(o.price, o.currency);
    c.note.textContent = o.note;
    c.qty.textContent = String(a.qty);
    const max = this._maxQty(c.pid);
    c.limit.textContent = o.sale ? t("shop.limit", { n: o.sale.limit }) : "";
    c.minus.disabled = a.qty <= 1 || Boolean(a.reservation);
    c.plus.disabled = a.qty >= max || Boolean(a.reservation);
    c.total.textContent = money(o.price * a.qty, o.currency);
    if (!c.busy) {
      c.pay.textContent = a.reservation || o.buyable ? t("shop.pay", { total: money(o.price * a.qty, o.currency) }) : o.note || t("shop.not_on_sale");
      c.pay.disabled = !(o.buyable || a.reservation);
    }
  }

  async pay(c, a) {
    if (c.busy) return;
    c.busy = true;
    c.error.textContent = "";
    c.pay.classList.add("busy");
    c.pay.textContent = a.reservation ? t("shop.paying") : t("shop.reserving");
    let stage = "buy";
    try {
      if (!a.reservation) {
        a.buyKey = a.buyKey || newKey();
        const data = await this.conn.command("buy", { product_id: a.pid, qty: a.qty, key: a.buyKey });
        a.reservation = data.reservation;
      }
      stage = "pay";
      c.pay.textContent = t("shop.paying");
      a.payKey = a.payKey || newKey();
      const card = a.card.replace(/[\s-]/g, "");
      const data = await this.conn.command(
        "pay",
        { reservation_id: a.reservation.id, card, key: a.payKey },
        40_000,
      );
      this.attempts.delete(a.pid);
      this._confirmed(c, data.order);
    } catch (err) {
      c.error.textContent = say(err.error || err);
      c.lastError = err.error || err;
      if (!TRANSIENT.has(err.code)) {
        // A final answer for these keys: the next tap is a new purchase.
        if (stage === "buy") a.buyKey = null;
        else if (err.code !== "bad_args" && err.code !== "key_reused") {
          a.reservation = null;
          a.buyKey = null;
        }
        a.payKey = null;
      }
    } finally {
      c.busy = false;
      c.pay.classList.remove("busy");
      if (!c.done) {
        this._updateCheckoutMeta();
        if (c.error.textContent && a.reservation) c.pay.textContent = t("shop.try_again");
      }
    }
  }

  _confirmed(c, order) {
    if (this.onOrder) this.onOrder(order);
    c.done = true;
    const product = this.model.products[order.product_id];
    replace(
      c.body,
      h(
        "div",
        { class: "confirmation", role: "status" },
        h("div", { class: "confirm-badge" }, icon("check", 34)),
        h("h3", {}, msg("shop.order_placed")),
        h("p", { class: "muted" }, msg("shop.qty_of", { n: order.qty, product: product ? product.name : order.product_id })),
        h("p", { class: "confirm-total" }, money(order.amount, order.currency)),
        h("p", { class: "order-id" }, msg("shop.order"), " ", h("span", { class: "mono", id: "order-id", text: order.id })),
        h("p", { class: "faint small" }, msg("shop.sandbox_order")),
        h("button", { class: "btn btn-lg btn-block", type: "button", onclick: closeSheet }, msg("shop.back")),
      ),
    );
    const back = c.body.querySelector(".confirmation button");
    if (back) back.focus({ preventScroll: true });
    this.notify(t("shop.got_it"), "ok");
    this.announce(t("shop.confirmed", { n: order.qty, product: product ? product.name : order.product_id, total: money(order.amount, order.currency), id: order.id }));
  }

  /** Tell screen readers when the pinned product sells out or its sale opens or ends. */
  _sayChange(pid, o) {
    const now = o.soldOut ? "sold_out" : o.state || "none";
    const before = this.lastSaid.get(pid);
    this.lastSaid.set(pid, now);
    if (before === undefined || before === now) return;
    const name = o.product.name;
    if (now === "sold_out") this.announce(t("shop.say_sold_out", { product: name }));
    else if (now === "open") this.announce(t("shop.say_open", { product: name, price: money(o.price, o.currency) }));
    else if (now === "closed") this.announce(t("shop.say_closed", { product: name }));
  }

  /** Redraw every text after a language switch; the purchase in progress stays. */
  relabel() {
    for (const r of this.rows.values()) r.tagSig = null;
    this.tick();
    if (this.checkout && !this.checkout.done) {
      const c = this.checkout;
      if (c.lastError && c.error.textContent) c.error.textContent = say(c.lastError);
      this._updateCheckoutMeta();
    }
  }

  /** Redraw after model changes. */
  update(changes) {
    if (changes.reset || changes.pin || changes.products || changes.sales || changes.live.stock) {
      this.renderPinned();
    }
    if (isOpen(this.lineupSheet)) this.renderLineup();
    if (this.checkout && !this.checkout.done) this._updateCheckoutMeta();
  }
}
