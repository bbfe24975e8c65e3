// Studio: the show's lineup (add, edit, reorder, pin) and the flash sale on the pinned
// product.

import { h, icon, replace, thumb } from "./dom.js";
import { countdown, money, num, relative, saleState, toMajor, toMinor } from "./format.js";
import { msg, t } from "./i18n.js";
import { say } from "./words.js";

const CURRENCIES = ["USD", "EUR", "GBP", "CNY", "JPY", "HKD", "SGD", "AUD", "CAD", "INR", "KRW", "BRL"];

function field(label, input, hint) {
  return h("label", { class: "lbl" }, label, input, hint ? h("span", { class: "hint faint" }, hint) : null);
}

async function run(button, errorEl, fn) {
  button.classList.add("busy");
  button.disabled = true;
  if (errorEl) errorEl.textContent = "";
  try {
    return await fn();
  } catch (err) {
    if (errorEl) errorEl.textContent = say(err.error || err);
    return undefined;
  } finally {
    button.classList.remove("busy");
    button.disabled = false;
  }
}

export class Lineup {
  constructor(el, saleEl, model, conn) {
    this.el = el;
    this.saleEl = saleEl;
    this.model = model;
    this.conn = conn;
    this.stock = {}; // from the figures poll: {pid: {initial, available, reserved, sold}}
    this.editing = null; // product id being edited, "" for a new one, null: form closed
    this.list = h("ol", { class: "studio-lineup" });
    this.formBox = h("div", { class: "product-form-box" });
    this.addBtn = h("button", { class: "btn btn-sm", type: "button", id: "add-product" }, msg("lineup.add"));
    this.addBtn.addEventListener("click", () => this.openForm(""));
    this.count = h("span", { class: "faint" });
    this.error = h("p", { class: "form-error", role: "alert" });
    replace(
      el,
      h("div", { class: "card-head" }, h("h2", {}, msg("lineup.title"), " ", this.count), this.addBtn),
      this.formBox,
      this.error,
      this.list,
    );
    this._buildSale();
    setInterval(() => this._tickSale(), 500);
  }

  // -- lineup list -------------------------------------------------------------------

  render() {
    const m = this.model;
    const ids = m.lineup.filter((pid) => m.products[pid]);
    this.count.textContent = `· ${ids.length}`;
    const rows = ids.map((pid, i) => this._row(pid, i, ids.length));
    if (!rows.length) {
      rows.push(h("li", { class: "empty" }, msg("lineup.empty")));
    }
    replace(this.list, rows);
    this.renderSale();
  }

  _row(pid, index, total) {
    const m = this.model;
    const p = m.products[pid];
    const pinned = m.pinned === pid;
    const sale = m.sales[pid];
    const state = saleState(sale, this.conn.now());
    const st = this.stock[pid];
    const stockText = st ? t("lineup.stock_sold", { n: st.available, sold: st.sold }) : t("lineup.stock", { n: p.stock });
    const move = (delta) => this.move(pid, delta);
    const pinBtn = h(
      "button",
      { class: `btn btn-sm pin-btn${pinned ? " btn-primary" : ""}`, type: "button", "aria-pressed": String(pinned), "aria-label": msg("lineup.pin_label", { product: p.name }) },
      icon("pin", 14),
      msg(pinned ? "lineup.pinned" : "lineup.pin"),
    );
    pinBtn.addEventListener("click", () => this.pin(pinned ? null : pid, pinBtn));
    return h(
      "li",
      { class: `lineup-item${pinned ? " pinned" : ""}`, dataset: { product: pid } },
      h("span", { class: "item-index faint" }, String(index + 1)),
      thumb(p.image_url, p.name, "thumb"),
      h(
        "div",
        { class: "item-body" },
        h("div", { class: "item-name", text: p.name }),
        h(
          "div",
          { class: "item-meta" },
          h("span", { class: "item-price" }, money(p.price, p.currency)),
          h("span", { class: "faint" }, stockText),
          state && state !== "closed" ? h("span", { class: `badge ${state === "open" ? "badge-open" : "badge-scheduled"}` }, msg(state === "open" ? "shop.on_sale" : "lineup.sale_soon")) : null,
        ),
      ),
      h(
        "div",
        { class: "item-actions" },
        h("button", { class: "icon-btn", type: "button", "aria-label": msg("lineup.move_up_label", { product: p.name }), title: msg("lineup.move_up"), disabled: index === 0, onclick: () => move(-1) }, icon("up", 16)),
        h("button", { class: "icon-btn", type: "button", "aria-label": msg("lineup.move_down_label", { product: p.name }), title: msg("lineup.move_down"), disabled: index === total - 1, onclick: () => move(1) }, icon("down", 16)),
        h("button", { class: "icon-btn edit-btn", type: "button", "aria-label": msg("lineup.edit_label", { product: p.name }), title: msg("lineup.edit"), onclick: () => this.openForm(pid) }, icon("edit", 16)),
        pinBtn,
      ),
    );
  }

  async move(pid, delta) {
    const order = this.model.lineup.slice();
    const i = order.indexOf(pid);
    const j = i + delta;
    if (i < 0 || j < 0 || j >= order.length) return;
    [order[i], order[j]] = [order[j], order[i]];
    try {
      await this.conn.command("reorder", { lineup: order });
    } catch (err) {
      this.error.textContent = say(err.error || err);
    }
  }

  async pin(pid, button) {
    await run(button, this.error, () => this.conn.command("pin", { product_id: pid }));
  }

  // -- add / edit form -----------------------------------------------------------------

  defaultCurrency() {
    const first = this.model.lineup.map((pid) => this.model.products[pid]).find(Boolean);
    return first ? first.currency : "USD";
  }

  openForm(pid) {
    this.editing = pid;
    const p = pid ? this.model.products[pid] : null;
    const currency = p ? p.currency : this.defaultCurrency();
    const codes = CURRENCIES.includes(currency) ? CURRENCIES : [currency, ...CURRENCIES];
    const name = h("input", { class: "field", name: "name", maxlength: "80", required: true, value: p ? p.name : "", placeholder: msg("lineup.name_placeholder") });
    const price = h("input", { class: "field", name: "price", inputmode: "decimal", required: true, value: p ? toMajor(p.price, p.currency) : "", placeholder: "129.00" });
    const cur = h("select", { class: "field", name: "currency" }, codes.map((c) => h("option", { value: c, text: c })));
    cur.value = currency;
    const image = h("input", { class: "field", name: "image_url", inputmode: "url", spellcheck: "false", maxlength: "500", value: p ? p.image_url : "", placeholder: "https://…/photo.jpg" });
    const stock = h("input", { class: "field", name: "stock", type: "number", min: "0", step: "1", value: p ? String(p.stock) : "20", disabled: Boolean(p) });
    const error = h("p", { class: "form-error", role: "alert" });
    const save = h("button", { class: "btn btn-primary", type: "submit" }, msg(p ? "lineup.save" : "lineup.add_to"));
    const cancel = h("button", { class: "btn btn-ghost", type: "button", onclick: () => this.closeForm() }, msg("common.cancel"));
    const form = h(
      "form",
      { class: "product-form", id: "product-form", "aria-labelledby": "product-form-title" },
      h("h3", { id: "product-form-title" }, msg(p ? "lineup.edit_title" : "lineup.new_title")),
      field(msg("lineup.name"), name),
      h("div", { class: "form-row" }, field(msg("lineup.price"), price), field(msg("lineup.currency"), cur), field(msg("lineup.stock_label"), stock, p ? msg("lineup.stock_hint") : null)),
      field(msg("lineup.image"), image, msg("lineup.image_hint")),
      error,
      h("div", { class: "form-actions" }, cancel, save),
    );
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const minor = toMinor(price.value, cur.value);
      if (!Number.isFinite(minor)) {
        error.textContent = t("lineup.bad_price", { example: toMajor(12900, cur.value) });
        return;
      }
      const body = { name: name.value.trim(), price: minor, currency: cur.value, image_url: image.value.trim() };
      let ok;
      if (p) {
        ok = await run(save, error, () => this.conn.command("update_product", { product_id: pid, ...body }));
      } else {
        const units = Number.parseInt(stock.value, 10);
        if (!Number.isInteger(units) || units < 0) {
          error.textContent = t("lineup.bad_stock");
          return;
        }
        ok = await run(save, error, () => this.conn.command("add_product", { ...body, stock: units }));
      }
      if (ok) this.closeForm();
    });
    replace(this.formBox, form);
    name.focus();
  }

  closeForm() {
    this.editing = null;
    replace(this.formBox);
  }

  // -- flash sale on the pinned product -------------------------------------------------

  _buildSale() {
    this.saleBody = h("div", { class: "sale-body" });
    replace(this.saleEl, h("div", { class: "card-head" }, h("h2", {}, icon("bolt", 18), msg("sale.title"))), this.saleBody);
    this.saleKey = null;
  }

  renderSale() {
    const m = this.model;
    const pid = m.pinned;
    const p = pid && m.products[pid];
    const sale = pid ? m.sales[pid] : null;
    const key = JSON.stringify([pid, p && p.price, p && p.name, sale]);
    if (key === this.saleKey) return;
    this.saleKey = key;
    if (!p) {
      replace(this.saleBody, h("p", { class: "empty" }, msg("sale.pin_first")));
      return;
    }
    this.saleStatus = h("div", { class: "sale-status" });
    this.saleSig = null;
    const parts = [
      h("div", { class: "sale-product" }, thumb(p.image_url, p.name, "thumb"), h("div", {}, h("div", { class: "item-name", text: p.name }), h("div", { class: "faint" }, msg("sale.list_price", { price: money(p.price, p.currency) })))),
      this.saleStatus,
    ];
    const state = saleState(sale, this.conn.now());
    this.showsForm = !sale || state === "closed";
    if (!this.showsForm) {
      const close = h("button", { class: "btn btn-danger", type: "button", id: "close-sale" }, msg("sale.close"));
      const err = h("p", { class: "form-error", role: "alert" });
      close.addEventListener("click", () => run(close, err, () => this.conn.command("close_sale", { product_id: pid })));
      parts.push(h("div", { class: "form-actions" }, close), err);
    } else {
      parts.push(this._saleForm(pid, p));
    }
    replace(this.saleBody, parts);
    this._tickSale();
  }

  _saleForm(pid, p) {
    const suggested = Math.round(p.price * 0.8);
    const available = this.stock[pid] ? this.stock[pid].available : p.stock;
    const price = h("input", { class: "field", id: "sale-price", inputmode: "decimal", value: toMajor(suggested, p.currency) });
    const units = h("input", { class: "field", id: "sale-units", type: "number", min: "1", step: "1", value: String(Math.max(1, Math.min(available, 50))) });
    const limit = h("input", { class: "field", id: "sale-limit", type: "number", min: "1", max: "1000", step: "1", value: "2" });
    const opensIn = h("input", { class: "field", id: "sale-opens", type: "number", min: "0", step: "1", value: "0" });
    const endsIn = h("input", { class: "field", id: "sale-ends", type: "number", min: "0", step: "1", value: "10" });
    const error = h("p", { class: "form-error", role: "alert" });
    const open = h("button", { class: "btn btn-primary", type: "submit", id: "open-sale" }, icon("bolt", 16), msg("sale.open"));
    const form = h(
      "form",
      { class: "sale-form" },
      h("div", { class: "form-row" }, field(msg("sale.price", { currency: p.currency }), price), field(msg("sale.units"), units, msg("sale.available", { n: available })), field(msg("sale.per_buyer"), limit)),
      h("div", { class: "form-row" }, field(msg("sale.opens_in"), opensIn, msg("sale.opens_hint")), field(msg("sale.ends_after"), endsIn, msg("sale.ends_hint"))),
      error,
      h("div", { class: "form-actions" }, open),
    );
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const minor = toMinor(price.value, p.currency);
      if (!Number.isFinite(minor)) {
        error.textContent = t("lineup.bad_price", { example: toMajor(9900, p.currency) });
        return;
      }
      const now = this.conn.now();
      const wait = Math.max(0, Number(opensIn.value) || 0);
      const mins = Math.max(0, Number(endsIn.value) || 0);
      const args = {
        product_id: pid,
        price: minor,
        currency: p.currency,
        units: Number.parseInt(units.value, 10),
        limit: Number.parseInt(limit.value, 10),
      };
      const start = wait ? Math.round(now + wait * 1000) : now;
      if (wait) args.opens_at = start;
      if (mins) args.ends_at = Math.round(start + mins * 60_000);
      run(open, error, () => this.conn.command("open_sale", args));
    });
    return form;
  }

  _tickSale() {
    if (!this.saleStatus) return;
    const m = this.model;
    const pid = m.pinned;
    const sale = pid ? m.sales[pid] : null;
    const now = this.conn.now();
    const state = saleState(sale, now);
    let parts;
    if (!sale) parts = [h("span", { class: "badge" }, t("sale.none")), h("span", { class: "faint" }, t("sale.none_text"))];
    else {
      const left = m.unitsLeft(pid);
      const price = money(sale.price, sale.currency);
      if (state === "scheduled") parts = [h("span", { class: "badge badge-scheduled" }, t("sale.scheduled")), h("span", {}, t("sale.scheduled_text", { price, when: relative(sale.opens_at - now) }))];
      else if (state === "open") {
        const text = t("sale.open_text", { price, left: num(left ?? sale.units), units: num(sale.units) });
        parts = [
          h("span", { class: "badge badge-open" }, t("sale.open_badge")),
          h("span", {}, sale.ends_at ? t("shop.ends", { note: text, time: countdown(sale.ends_at - now) }) : text),
        ];
      } else parts = [h("span", { class: "badge badge-ended" }, t("sale.closed")), h("span", { class: "faint" }, t("sale.closed_text", { price, left: num(left ?? 0), units: num(sale.units) }))];
    }
    if ((!sale || state === "closed") !== this.showsForm) {
      // The sale just ended by its clock (or appeared): switch between form and button.
      this.saleKey = null;
      this.renderSale();
      return;
    }
    const sig = parts.map((p) => p.textContent).join("|");
    if (sig !== this.saleSig) {
      replace(this.saleStatus, parts);
      this.saleSig = sig;
    }
  }

  /** Redraw the texts made on the fly after a language switch (the open form stays). */
  relabel() {
    this.saleSig = null;
    this._tickSale();
  }

  setStock(stock) {
    const changed = JSON.stringify(stock) !== JSON.stringify(this.stock);
    this.stock = stock || {};
    if (changed && this.editing === null) this.render();
  }
}
