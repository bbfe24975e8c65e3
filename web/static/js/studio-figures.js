// Studio: live figures. Viewers and hearts come with the room's live values; orders,
// revenue and stock from GET /api/rooms/{room}/figures every 2 s (its replay part goes
// to the past shows panel); buyers (for the
// conversion) and the latest orders from orders.json when the order count moves.

import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { count, money, num, percent, saleState, timeOfDay } from "./format.js";
import { msg, t } from "./i18n.js";

const POLL_MS = 2000;

export class Figures {
  constructor(el, room, token, model, onStock, onFigures = () => {}) {
    this.el = el;
    this.onFigures = onFigures;
    this.room = room;
    this.token = token;
    this.model = model;
    this.onStock = onStock;
    this.data = null;
    this.buyers = 0;
    this.orders = [];
    this.ordersSeen = -1;
    this.peakViewers = 0;
    this.tiles = {};
    const tile = (key, label) => {
      const value = h("div", { class: "tile-value", id: `fig-${key}` }, "–");
      const sub = h("div", { class: "tile-sub faint" });
      this.tiles[key] = { value, sub };
      return h("div", { class: `tile tile-${key}` }, h("div", { class: "tile-label" }, msg(label)), value, sub);
    };
    this.recent = h("ol", { class: "recent-orders" });
    this.status = h("span", { class: "faint small", role: "status" });
    this.statusKey = "";
    replace(
      el,
      h("div", { class: "card-head" }, h("h2", {}, msg("fig.title")), this.status),
      h(
        "div",
        { class: "tiles" },
        tile("viewers", "fig.viewers"),
        tile("hearts", "fig.hearts"),
        tile("orders", "fig.orders"),
        tile("units", "fig.units"),
        tile("revenue", "fig.revenue"),
        tile("conversion", "fig.conversion"),
      ),
      h("h3", { class: "sub-head" }, msg("fig.latest")),
      this.recent,
    );
    this.renderRecent();
  }

  start() {
    this.poll();
    this.timer = setInterval(() => this.poll(), POLL_MS);
  }

  stop() {
    clearInterval(this.timer);
  }

  async poll() {
    if (this.polling) return;
    this.polling = true;
    try {
      this.data = await api(`/api/rooms/${encodeURIComponent(this.room)}/figures`, { token: this.token });
      this.statusKey = "";
      if (this.data.orders !== this.ordersSeen) await this.loadOrders();
      this.onStock(this.data.stock || {});
      this.onFigures(this.data);
    } catch (err) {
      this.statusKey = err.status === 401 ? "fig.token_refused" : "fig.unavailable";
    } finally {
      this.polling = false;
      this.render();
    }
  }

  async loadOrders() {
    const data = await api(`/api/rooms/${encodeURIComponent(this.room)}/orders.json`, { token: this.token });
    const orders = data.orders || [];
    this.orders = orders;
    this.buyers = new Set(orders.map((o) => o.buyer_vid)).size;
    this.ordersSeen = this.data.orders;
    this.renderRecent();
  }

  render() {
    const m = this.model;
    const tiles = this.tiles;
    const viewers = m.live.viewers || 0;
    this.peakViewers = Math.max(this.peakViewers, viewers);
    this.status.textContent = this.statusKey ? t(this.statusKey) : "";
    tiles.viewers.value.textContent = count(viewers);
    tiles.viewers.sub.textContent = t("fig.peak", { count: count(this.peakViewers) });
    tiles.hearts.value.textContent = count(m.live.hearts_total || 0);
    tiles.hearts.sub.textContent = t("fig.this_show");
    const d = this.data;
    if (d) {
      tiles.orders.value.textContent = count(d.orders || 0);
      tiles.orders.sub.textContent = t("fig.units_sold", { n: d.units_sold || 0 });
      const revenue = Object.entries(d.revenue || {});
      tiles.revenue.value.textContent = revenue.length ? revenue.map(([cur, v]) => money(v, cur)).join(" + ") : "–";
      const commission = Object.values(d.hosts || {}).flatMap((x) => Object.entries(x.commission || {}));
      tiles.revenue.sub.textContent = commission.length ? t("fig.fee", { fee: commission.map(([cur, v]) => money(v, cur)).join(" + ") }) : "";
    }
    // Units left in the sales open now: the live stock keeps closed sales' last count.
    const stock = m.live.stock || {};
    const now = Date.now();
    const onSale = Object.entries(stock)
      .filter(([pid]) => saleState(m.sales[pid], now) === "open")
      .map(([, n]) => n);
    if (onSale.length) {
      tiles.units.value.textContent = count(onSale.reduce((a, b) => a + b, 0));
      tiles.units.sub.textContent = t("fig.in_sales");
    } else if (d && d.stock) {
      tiles.units.value.textContent = count(Object.values(d.stock).reduce((a, s) => a + (s.available || 0), 0));
      tiles.units.sub.textContent = t("fig.in_stock");
    }
    const base = Math.max(viewers, 1);
    tiles.conversion.value.textContent = viewers ? percent(this.buyers / base) : "–";
    tiles.conversion.sub.textContent = t("fig.buyers", { n: this.buyers, viewers: num(viewers) });
  }

  renderRecent() {
    const latest = this.orders.slice(-5).reverse();
    if (!latest.length) {
      replace(this.recent, h("li", { class: "empty" }, msg("fig.no_orders")));
      return;
    }
    replace(
      this.recent,
      latest.map((o) => {
        const p = this.model.products[o.product_id];
        return h(
          "li",
          { class: "order-row", dataset: { order: o.id } },
          h("div", { class: "order-main" }, h("b", { text: o.buyer_name }), h("span", { class: "faint" }, " · ", t("fig.qty", { n: o.qty }), " "), h("span", { text: p ? p.name : o.product_id })),
          h("div", { class: "order-side" }, h("span", { class: "order-amount" }, money(o.amount, o.currency)), h("span", { class: "faint small" }, timeOfDay(o.created_at))),
        );
      }),
    );
  }
}
