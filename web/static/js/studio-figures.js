// Studio: live figures. Viewers and hearts come with the room's live values; orders,
// revenue and stock from GET /api/rooms/{room}/figures every 2 s; buyers (for the
// conversion) and the latest orders from orders.json when the order count moves.

import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { count, money, timeOfDay } from "./format.js";

const POLL_MS = 2000;

export class Figures {
  constructor(el, room, token, model, onStock) {
    this.el = el;
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
      return h("div", { class: `tile tile-${key}` }, h("div", { class: "tile-label" }, label), value, sub);
    };
    this.recent = h("ol", { class: "recent-orders" });
    this.status = h("span", { class: "faint small" });
    replace(
      el,
      h("div", { class: "card-head" }, h("h2", {}, "Live figures"), this.status),
      h(
        "div",
        { class: "tiles" },
        tile("viewers", "Viewers"),
        tile("hearts", "Hearts"),
        tile("orders", "Orders"),
        tile("revenue", "Revenue"),
        tile("units", "Units left"),
        tile("conversion", "Conversion"),
      ),
      h("h3", { class: "sub-head" }, "Latest orders"),
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
      this.status.textContent = "";
      if (this.data.orders !== this.ordersSeen) await this.loadOrders();
      this.onStock(this.data.stock || {});
    } catch (err) {
      this.status.textContent = err.status === 401 ? "token refused" : "figures unavailable, retrying";
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
    const t = this.tiles;
    const viewers = m.live.viewers || 0;
    this.peakViewers = Math.max(this.peakViewers, viewers);
    t.viewers.value.textContent = count(viewers);
    t.viewers.sub.textContent = `peak ${count(this.peakViewers)}`;
    t.hearts.value.textContent = count(m.live.hearts_total || 0);
    t.hearts.sub.textContent = "this show";
    const d = this.data;
    if (d) {
      t.orders.value.textContent = count(d.orders || 0);
      t.orders.sub.textContent = `${count(d.units_sold || 0)} ${d.units_sold === 1 ? "unit" : "units"} sold`;
      const revenue = Object.entries(d.revenue || {});
      t.revenue.value.textContent = revenue.length ? revenue.map(([cur, v]) => money(v, cur)).join(" + ") : "–";
      const commission = Object.values(d.hosts || {}).flatMap((x) => Object.entries(x.commission || {}));
      t.revenue.sub.textContent = commission.length ? `fee ${commission.map(([cur, v]) => money(v, cur)).join(" + ")}` : "";
    }
    const stock = m.live.stock || {};
    const onSale = Object.values(stock);
    if (onSale.length) {
      t.units.value.textContent = count(onSale.reduce((a, b) => a + b, 0));
      t.units.sub.textContent = "in open sales";
    } else if (d && d.stock) {
      t.units.value.textContent = count(Object.values(d.stock).reduce((a, s) => a + (s.available || 0), 0));
      t.units.sub.textContent = "in stock";
    }
    const base = Math.max(viewers, 1);
    t.conversion.value.textContent = viewers ? `${((100 * this.buyers) / base).toFixed(1)}%` : "–";
    t.conversion.sub.textContent = `${this.buyers} ${this.buyers === 1 ? "buyer" : "buyers"} / ${viewers}`;
  }

  renderRecent() {
    const latest = this.orders.slice(-5).reverse();
    if (!latest.length) {
      replace(this.recent, h("li", { class: "empty" }, "No orders yet."));
      return;
    }
    replace(
      this.recent,
      latest.map((o) => {
        const p = this.model.products[o.product_id];
        return h(
          "li",
          { class: "order-row", dataset: { order: o.id } },
          h("div", { class: "order-main" }, h("b", { text: o.buyer_name }), h("span", { class: "faint" }, ` · ${o.qty} × `), h("span", { text: p ? p.name : o.product_id })),
          h("div", { class: "order-side" }, h("span", { class: "order-amount" }, money(o.amount, o.currency)), h("span", { class: "faint small" }, timeOfDay(o.created_at))),
        );
      }),
    );
  }
}
