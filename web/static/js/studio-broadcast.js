// Studio: camera and microphone preview with device pickers, Go live (WHIP) and stop.

import { WhipPublisher } from "/static/streamer/whip.js";
import { h, icon, replace } from "./dom.js";
import { msg, t } from "./i18n.js";

export class Broadcast extends EventTarget {
  constructor(el, room, token) {
    super();
    this.el = el;
    this.room = room;
    this.token = token;
    this.stream = null;
    this.publisher = null;
    this.state = "idle"; // idle | starting | live | reconnecting | stopped | error
    this.wantLive = false;
    this.retry = 0;
    this.video = h("video", { class: "preview-video", muted: true, autoplay: true, playsinline: true });
    this.video.muted = true;
    this.camSelect = h("select", { class: "field", id: "camera-select" });
    this.micSelect = h("select", { class: "field", id: "mic-select" });
    this.tag = h("span", { class: "preview-tag" });
    this.message = h("p", { class: "broadcast-msg", role: "status" });
    this.meter = h("div", { class: "meter", "aria-hidden": "true" }, h("div", { class: "meter-fill" }));
    this.video.setAttribute("aria-label", t("cam.preview"));
    this.said = null; // [key, params] of the message shown, redrawn on a language switch
    replace(
      el,
      h("div", { class: "card-head" }, h("h2", {}, msg("cam.title")), this.tag),
      h("div", { class: "preview" }, this.video, h("div", { class: "preview-empty" }, icon("camera", 28), h("span", {}, msg("cam.off"))), this.meter),
      h(
        "div",
        { class: "devices" },
        h("label", { class: "lbl" }, h("span", { class: "lbl-row" }, icon("camera", 14), msg("cam.camera")), this.camSelect),
        h("label", { class: "lbl" }, h("span", { class: "lbl-row" }, icon("mic", 14), msg("cam.microphone")), this.micSelect),
      ),
      this.message,
    );
    this.camSelect.addEventListener("change", () => this.preview());
    this.micSelect.addEventListener("change", () => this.preview());
    navigator.mediaDevices?.addEventListener?.("devicechange", () => this.listDevices());
    this._setState("idle");
  }

  async start() {
    await this.preview();
    await this.listDevices();
  }

  async listDevices() {
    if (!navigator.mediaDevices) return;
    const devices = await navigator.mediaDevices.enumerateDevices();
    const fill = (select, kind, fallback) => {
      const current = select.value;
      const list = devices.filter((d) => d.kind === kind);
      replace(
        select,
        list.map((d, i) => h("option", { value: d.deviceId, text: d.label || msg(fallback, { n: i + 1 }) })),
      );
      if (list.some((d) => d.deviceId === current)) select.value = current;
      else if (this.stream) {
        const track = this.stream.getTracks().find((t) => t.kind === kind.replace("input", ""));
        const id = track && track.getSettings().deviceId;
        if (id) select.value = id;
      }
      select.disabled = list.length === 0;
    };
    fill(this.camSelect, "videoinput", "cam.camera_n");
    fill(this.micSelect, "audioinput", "cam.microphone_n");
  }

  async preview() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      this._say("cam.no_camera", {}, "error");
      return;
    }
    const video = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
    const audio = { echoCancellation: true, noiseSuppression: true };
    if (this.camSelect.value) video.deviceId = { exact: this.camSelect.value };
    if (this.micSelect.value) audio.deviceId = { exact: this.micSelect.value };
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video, audio });
    } catch (err) {
      this._say("cam.unavailable", { why: err.name || "" }, "error");
      return;
    }
    const old = this.stream;
    this.stream = stream;
    this.video.srcObject = stream;
    this.el.classList.add("has-preview");
    this._meter(stream);
    if (this.publisher && this.publisher.pc) {
      // Live: swap the tracks on the running connection, no new publish needed.
      for (const sender of this.publisher.pc.getSenders()) {
        const next = sender.track && stream.getTracks().find((t) => t.kind === sender.track.kind);
        if (next) await sender.replaceTrack(next).catch(() => {});
      }
    }
    if (old) for (const t of old.getTracks()) t.stop();
    if (this.state === "idle") this._say("cam.preview_only");
  }

  _meter(stream) {
    if (this._audioCtx) this._audioCtx.close().catch(() => {});
    this._audioCtx = null;
    const track = stream.getAudioTracks()[0];
    if (!track || typeof AudioContext === "undefined") return;
    const ctx = new AudioContext();
    this._audioCtx = ctx;
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 256;
    ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const data = new Uint8Array(analyser.fftSize);
    const fill = this.meter.firstElementChild;
    const draw = () => {
      if (this._audioCtx !== ctx) return;
      analyser.getByteTimeDomainData(data);
      let peak = 0;
      for (const v of data) peak = Math.max(peak, Math.abs(v - 128));
      fill.style.transform = `scaleX(${Math.min(1, peak / 64).toFixed(3)})`;
      setTimeout(() => requestAnimationFrame(draw), 80);
    };
    draw();
  }

  async goLive() {
    if (!this.stream) await this.preview();
    if (!this.stream) return false;
    this.wantLive = true;
    this._setState("starting");
    this._say("cam.connecting");
    const pub = new WhipPublisher(`/whip/${encodeURIComponent(this.room)}`, { token: this.token });
    pub.addEventListener("state", (ev) => this._onPcState(pub, ev.detail));
    this.publisher = pub;
    try {
      await pub.start(this.stream);
    } catch (err) {
      this.publisher = null;
      const why = err.status === 401 ? "cam.refused" : err.status === 429 ? "cam.too_many" : "cam.failed";
      this._setState("error");
      this._say(why, {}, "error");
      this.wantLive = false;
      return false;
    }
    return true;
  }

  _onPcState(pub, state) {
    if (pub !== this.publisher) return;
    if (state === "connected") {
      this.retry = 0;
      this._setState("live");
      this._say("cam.live", {}, "ok");
    } else if ((state === "failed" || state === "closed" || state === "disconnected") && this.wantLive) {
      if (state === "disconnected") {
        this._say("cam.unstable", {}, "warn");
        return;
      }
      this._setState("reconnecting");
      this._say("cam.lost", {}, "warn");
      this.publisher = null;
      pub.stop();
      const delay = Math.min(10_000, 1000 * 2 ** this.retry++);
      setTimeout(() => {
        if (this.wantLive && !this.publisher) this.goLive();
      }, delay);
    }
  }

  async stop() {
    this.wantLive = false;
    const pub = this.publisher;
    this.publisher = null;
    if (pub) await pub.stop();
    this._setState("stopped");
    this._say("cam.stopped");
  }

  _say(key, params = {}, kind = "") {
    this.said = [key, params];
    this.message.textContent = t(key, params);
    this.message.dataset.kind = kind;
  }

  /** Redraw the texts after a language switch. */
  relabel() {
    if (this.said) this.message.textContent = t(...this.said);
    this._label();
    this.video.setAttribute("aria-label", t("cam.preview"));
  }

  _label() {
    const keys = { idle: "cam.state_idle", starting: "cam.state_starting", live: "cam.state_live", reconnecting: "cam.state_reconnecting", stopped: "cam.state_stopped", error: "cam.state_error" };
    this.tag.textContent = keys[this.state] ? t(keys[this.state]) : this.state;
  }

  _setState(state) {
    this.state = state;
    this.el.dataset.state = state;
    this._label();
    this.tag.className = `preview-tag ${state}`;
    this.dispatchEvent(new CustomEvent("state", { detail: state }));
  }
}
