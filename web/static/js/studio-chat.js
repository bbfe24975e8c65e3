// Studio: the "explain this" queue and chat with moderation one click away
// (delete, mute, ban, slow mode, banned words).

import { h, icon, replace, thumb } from "./dom.js";
import { timeOfDay } from "./format.js";
import { msg, t } from "./i18n.js";
import { say } from "./words.js";

const MAX_ROWS = 150;
const SLOW_STEPS = [0, 3, 10, 30, 60, 300];

export class ExplainQueue {
  constructor(el, model, conn) {
    this.el = el;
    this.model = model;
    this.conn = conn;
    this.list = h("ol", { class: "queue" });
    this.error = h("p", { class: "form-error", role: "alert" });
    replace(
      el,
      h("div", { class: "card-head" }, h("h2", {}, msg("queue.title")), h("span", { class: "faint small" }, msg("queue.ranked"))),
      this.error,
      this.list,
    );
    this.sig = null;
  }

  render() {
    const m = this.model;
    const ranked = (m.live.explain || []).filter(([pid, n]) => m.products[pid] && n > 0);
    const sig = JSON.stringify([ranked, m.pinned, ranked.map(([pid]) => m.products[pid].name)]);
    if (sig === this.sig) return;
    this.sig = sig;
    if (!ranked.length) {
      replace(this.list, h("li", { class: "empty" }, msg("queue.empty")));
      return;
    }
    const top = ranked[0][1];
    replace(
      this.list,
      ranked.map(([pid, n], i) => {
        const p = m.products[pid];
        const pinBtn = h("button", { class: "btn btn-sm btn-primary", type: "button", "aria-label": msg("queue.pin_label", { product: p.name }) }, icon("pin", 14), msg("queue.pin"));
        const dismiss = h("button", { class: "btn btn-sm btn-ghost", type: "button", "aria-label": msg("queue.dismiss_label", { product: p.name }) }, msg("queue.dismiss"));
        pinBtn.addEventListener("click", () => this.act(pinBtn, "pin", pid));
        dismiss.addEventListener("click", () => this.act(dismiss, "dismiss", pid));
        return h(
          "li",
          { class: "queue-item", dataset: { product: pid } },
          h("span", { class: "rank" }, String(i + 1)),
          thumb(p.image_url, p.name, "thumb"),
          h(
            "div",
            { class: "item-body" },
            h("div", { class: "item-name", text: p.name }),
            h("div", { class: "bar", "aria-hidden": "true" }, h("div", { class: "bar-fill", style: { width: `${Math.max(8, (100 * n) / top)}%` } })),
            h("span", { class: "faint small queue-count" }, msg("queue.requests", { n })),
          ),
          h("div", { class: "queue-actions" }, m.pinned === pid ? h("span", { class: "badge badge-live" }, msg("lineup.pinned")) : pinBtn, dismiss),
        );
      }),
    );
  }

  async act(button, cmd, pid) {
    button.classList.add("busy");
    this.error.textContent = "";
    try {
      await this.conn.command(cmd, { product_id: pid });
      // The ranking comes back with the next presence update; drop it here at once.
      this.model.live.explain = (this.model.live.explain || []).filter(([id]) => id !== pid);
      this.render();
    } catch (err) {
      this.error.textContent = say(err.error || err);
      button.classList.remove("busy");
    }
  }
}

export class ChatDesk {
  constructor(el, model, conn) {
    this.el = el;
    this.model = model;
    this.conn = conn;
    this.list = h("div", { class: "desk-chat", role: "log", tabindex: "0", "aria-label": msg("live.chat_log") });
    this.input = h("input", { class: "field", id: "host-chat-input", maxlength: "280", placeholder: msg("chat.placeholder"), "aria-label": msg("chat.input_label") });
    this.note = h("p", { class: "form-error", role: "alert" });
    this.slow = h("select", { class: "field field-sm", id: "slow-mode", "aria-label": msg("chat.slow_label") }, SLOW_STEPS.map((s) => this._slowOption(s)));
    this.words = h("input", { class: "field field-sm", id: "banned-words", placeholder: msg("chat.words_placeholder"), "aria-label": msg("chat.words_label") });
    this.wordsSave = h("button", { class: "btn btn-sm", type: "submit", "aria-label": msg("chat.words_save_label") }, msg("common.save"));
    this.people = h("div", { class: "people" });
    const form = h("form", { class: "desk-compose" }, this.input, h("button", { class: "btn btn-primary", type: "submit" }, msg("live.send")));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.send();
    });
    const wordsForm = h("form", { class: "words-form" }, this.words, this.wordsSave);
    wordsForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.saveWords();
    });
    this.slow.addEventListener("change", () => this.setSlow());
    replace(
      el,
      h("div", { class: "card-head" }, h("h2", {}, msg("chat.title")), this.slow),
      wordsForm,
      this.people,
      this.list,
      this.note,
      form,
    );
  }

  _slowOption(s) {
    return h("option", { value: String(s), text: s ? msg("chat.slow", { n: s }) : msg("chat.slow_off") });
  }

  /** Redraw after a language switch: the lines, moderation chips (typed text stays). */
  relabel() {
    for (const row of this.list.querySelectorAll(".desk-msg[data-ts]")) {
      const time = row.querySelector(".desk-time");
      if (time) time.textContent = timeOfDay(Number(row.dataset.ts));
    }
    this.moderation();
  }

  reset() {
    replace(this.list, this.model.chat.map((m) => this.row(m)));
    this.list.scrollTop = this.list.scrollHeight;
    this.renderSettings();
    this.renderPeople();
  }

  renderSettings() {
    const m = this.model;
    const value = String(m.room.slow_mode || 0);
    if (![...this.slow.options].some((o) => o.value === value)) {
      this.slow.append(this._slowOption(Number(value)));
    }
    this.slow.value = value;
    if (document.activeElement !== this.words) this.words.value = m.bannedWords.join(", ");
  }

  add(messages) {
    const stick = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 60;
    this.list.append(...messages.map((m) => this.row(m)));
    while (this.list.childElementCount > MAX_ROWS) this.list.firstElementChild.remove();
    if (stick) this.list.scrollTop = this.list.scrollHeight;
  }

  remove(ids) {
    for (const id of ids) {
      const el = this.list.querySelector(`[data-id="${Number(id)}"]`);
      if (el) el.remove();
    }
  }

  moderation() {
    for (const row of this.list.querySelectorAll(".desk-msg[data-vid]")) {
      const vid = row.dataset.vid;
      row.classList.toggle("is-muted", this.model.muted.has(vid));
      const btn = row.querySelector(".mute-btn");
      if (btn) {
        const muted = this.model.muted.has(vid);
        btn.title = t(muted ? "chat.unmute" : "chat.mute");
        btn.setAttribute("aria-label", t(muted ? "chat.unmute_label" : "chat.mute_label", { name: row.dataset.name }));
      }
    }
    this.renderPeople();
  }

  row(m) {
    const user = m.user || {};
    const host = user.role === "host";
    const row = h(
      "div",
      { class: `desk-msg${host ? " host" : ""}`, dataset: { id: String(m.id), ts: String(m.ts || "") } },
      h(
        "div",
        { class: "desk-line" },
        h("span", { class: "desk-name" }, host ? h("span", { class: "badge badge-host" }, msg("common.host")) : null, user.name || t("common.guest")),
        h("span", { class: "faint small desk-time" }, m.ts ? timeOfDay(m.ts) : ""),
      ),
      h("div", { class: "desk-text", text: m.text }),
    );
    const name = user.name || t("common.guest");
    const actions = h("div", { class: "desk-actions" });
    actions.append(this._action("trash", msg("chat.delete"), msg("chat.delete_label", { name }), "delete-btn", () => this.conn.command("delete", { message_id: m.id })));
    if (!host && user.vid) {
      row.dataset.vid = user.vid;
      row.dataset.name = name;
      const muted = this.model.muted.has(user.vid);
      row.classList.toggle("is-muted", muted);
      actions.append(
        this._action("hush", t(muted ? "chat.unmute" : "chat.mute"), t(muted ? "chat.unmute_label" : "chat.mute_label", { name }), "mute-btn", () =>
          this.conn.command(this.model.muted.has(user.vid) ? "unmute" : "mute", { vid: user.vid }),
        ),
        this._action("ban", msg("chat.ban"), msg("chat.ban_label", { name }), "ban-btn", () => this.conn.command("ban", { vid: user.vid })),
      );
    }
    row.append(actions);
    return row;
  }

  _action(name, title, label, cls, fn) {
    const btn = h("button", { class: `icon-btn ${cls}`, type: "button", title, "aria-label": label }, icon(name, 16));
    btn.addEventListener("click", async () => {
      btn.disabled = true;
      try {
        await fn();
        this.note.textContent = "";
      } catch (err) {
        this.note.textContent = say(err.error || err);
      } finally {
        btn.disabled = false;
      }
    });
    return btn;
  }

  renderPeople() {
    const m = this.model;
    const chips = [];
    for (const [set, action, label] of [[m.muted, "unmute", "chat.muted_chip"], [m.banned, "unban", "chat.banned_chip"]]) {
      for (const vid of set) {
        const name = m.names.get(vid) || vid.slice(0, 8);
        const undo = h("button", { class: "chip-x", type: "button", "aria-label": t(`chat.${action}_label`, { name }), title: t(`chat.${action}`) }, icon("close", 12));
        undo.addEventListener("click", () => this.conn.command(action, { vid }).catch((err) => (this.note.textContent = say(err.error || err))));
        chips.push(h("span", { class: `chip chip-${action}` }, t(label), " ", h("b", { text: name }), undo));
      }
    }
    replace(this.people, chips);
  }

  async send() {
    const text = this.input.value.trim();
    if (!text) return;
    try {
      await this.conn.command("chat", { text });
      this.input.value = "";
      this.note.textContent = "";
    } catch (err) {
      this.note.textContent = say(err.error || err);
    }
  }

  async setSlow() {
    try {
      await this.conn.command("slow_mode", { seconds: Number(this.slow.value) });
    } catch (err) {
      this.note.textContent = say(err.error || err);
      this.renderSettings();
    }
  }

  async saveWords() {
    const words = this.words.value.split(",").map((w) => w.trim()).filter(Boolean);
    this.wordsSave.classList.add("busy");
    try {
      const data = await this.conn.command("banned_words", { words });
      this.model.bannedWords = data.words || words;
      this.note.textContent = "";
      this.words.blur();
      this.renderSettings();
    } catch (err) {
      this.note.textContent = say(err.error || err);
    } finally {
      this.wordsSave.classList.remove("busy");
    }
  }
}
