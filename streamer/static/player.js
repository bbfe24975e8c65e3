// Play a livecart room's low-latency stream (fMP4 over WebSocket) in a <video> via MSE.
//
//   import { LivePlayer } from "/static/streamer/player.js";
//   const player = new LivePlayer(videoElement, "/ws/video/my-room");
//   player.addEventListener("status", (e) => console.log(e.detail));
//   // connecting | live | offline | ended | unsupported (no MSE support for the codec)
//   player.start();  ...  player.stop();
//
// Framing (docs/streaming.md): a JSON text message {"type":"init",...} announces the
// codecs, then binary messages = 16-byte header + fMP4 (init segment or one fragment)
// for track 0 (H.264 video) or track 1 (Opus audio), each fed to its own SourceBuffer.
// The player reconnects with backoff, and jumps to the live edge whenever it is more
// than `maxLatency` seconds behind or stuck before a gap.

const HEADER_BYTES = 16;
const KIND_INIT = 1;
const KIND_FRAGMENT = 2;
const FLAG_KEYFRAME = 1;
const TRACKS = ["video", "audio"];

export class LivePlayer extends EventTarget {
  /**
   * @param {HTMLVideoElement} video
   * @param {string} url  WebSocket URL or path, e.g. "/ws/video/<room>"
   * @param {{maxLatency?: number, targetLatency?: number, maxQueueBytes?: number}} options
   */
  constructor(video, url, options = {}) {
    super();
    this.video = video;
    const u = new URL(url, document.baseURI);
    if (u.protocol === "http:") u.protocol = "ws:";
    if (u.protocol === "https:") u.protocol = "wss:";
    this.url = u.href;
    this.maxLatency = options.maxLatency ?? 1.0;
    this.targetLatency = options.targetLatency ?? 0.25;
    this.maxQueueBytes = options.maxQueueBytes ?? 4 * 1024 * 1024;
    this.stats = { fragments: 0, bytes: 0, skips: 0, reconnects: 0, delay: null };
    this._ws = null;
    this._running = false;
    this._backoff = 500;
    this._reset();
  }

  /** Connect and keep reconnecting until stop(). */
  start() {
    if (this._running) return;
    this._running = true;
    this._connect();
  }

  /** Disconnect and release the MediaSource. */
  stop() {
    this._running = false;
    clearTimeout(this._retryTimer);
    if (this._ws) this._ws.close(1000);
    this._ws = null;
    this._teardown();
  }

  /** Seconds between what is played and the newest buffered frame. */
  get latency() {
    const b = this.video.buffered;
    return b.length ? b.end(b.length - 1) - this.video.currentTime : 0;
  }

  _status(value) {
    this.status = value;
    this.dispatchEvent(new CustomEvent("status", { detail: value }));
  }

  _reset() {
    this._ms = null;
    this._stream = null;
    // index = wire track number (0 video, 1 audio); null when absent or unplayable.
    // Each: SourceBuffer, its MIME type and its queue of pending appends.
    this._tracks = [];
    this._waitKey = true;
  }

  _queuedBytes() {
    return this._live().reduce((n, t) => n + t.queued, 0);
  }

  _live() {
    return this._tracks.filter(Boolean);
  }

  _connect() {
    this._status("connecting");
    const ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    this._ws = ws;
    ws.onopen = () => {
      this._backoff = 500;
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") this._onText(JSON.parse(ev.data));
      else this._onBinary(ev.data);
    };
    ws.onclose = () => {
      if (this._ws !== ws) return;
      this._ws = null;
      if (!this._running) return;
      this.stats.reconnects += 1;
      this._teardown();
      this._status("connecting");
      this._retryTimer = setTimeout(() => this._connect(), this._backoff);
      this._backoff = Math.min(this._backoff * 2, 5000);
    };
  }

  _onText(msg) {
    if (msg.type === "init") {
      const mimes = [msg.mime, msg.audio ? msg.audio.mime : null];
      if (!MediaSource.isTypeSupported(msg.mime)) {
        this._status("unsupported");
        return;
      }
      const playable = mimes.map((m) => Boolean(m && MediaSource.isTypeSupported(m)));
      const sameTracks =
        this._tracks.length === 2 && playable.every((p, i) => p === Boolean(this._tracks[i]));
      if (msg.stream !== this._stream || !this._ms || !sameTracks) {
        this._teardown();
        this._stream = msg.stream;
        this._open(mimes);
      } else if (this._tracks[0] && msg.mime !== this._tracks[0].mime) {
        this._tracks[0].pendingMime = msg.mime;
      }
      this.width = msg.width;
      this.height = msg.height;
      this._waitKey = true;
      this._status("live");
    } else if (msg.type === "offline" || msg.type === "ended") {
      this._status(msg.type);
    }
  }

  _onBinary(buf) {
    if (buf.byteLength < HEADER_BYTES) return;
    const view = new DataView(buf);
    const kind = view.getUint8(0);
    const flags = view.getUint8(1);
    const track = this._tracks[view.getUint16(2)];
    const producedUs = Number(view.getBigUint64(8));
    const data = new Uint8Array(buf, HEADER_BYTES);
    if (!track) return; // e.g. audio the browser cannot play
    if (kind === KIND_INIT) {
      this._enqueue(track, { data, init: true, mime: track.pendingMime });
      track.pendingMime = null;
      return;
    }
    if (kind !== KIND_FRAGMENT) return;
    const isVideo = view.getUint16(2) === 0;
    const key = isVideo && (flags & FLAG_KEYFRAME) !== 0;
    if (this._waitKey && !key) return;
    if (isVideo && this._queuedBytes() > this.maxQueueBytes) {
      // Appends fall behind: drop what is queued and restart at a keyframe.
      for (const t of this._live()) this._dropQueuedFragments(t);
      this.stats.skips += 1;
      if (!key) {
        this._waitKey = true;
        return;
      }
    }
    this._waitKey = false;
    this.stats.fragments += 1;
    this.stats.bytes += buf.byteLength;
    if (isVideo) this.stats.delay = Date.now() / 1000 - producedUs / 1e6;
    this._enqueue(track, { data, init: false });
  }

  _dropQueuedFragments(track) {
    track.queue = track.queue.filter((item) => item.init);
    track.queued = track.queue.reduce((n, item) => n + item.data.byteLength, 0);
  }

  _open(mimes) {
    const ms = new MediaSource();
    this._ms = ms;
    this._tracks = mimes.map((mime) =>
      mime && MediaSource.isTypeSupported(mime)
        ? { mime, sb: null, queue: [], queued: 0, pendingMime: null }
        : null,
    );
    this._objectUrl = URL.createObjectURL(ms);
    this.video.src = this._objectUrl;
    ms.addEventListener(
      "sourceopen",
      () => {
        if (this._ms !== ms) return;
        for (const track of this._live()) {
          const sb = ms.addSourceBuffer(track.mime);
          sb.mode = "segments";
          sb.addEventListener("updateend", () => this._afterAppend(track));
          sb.addEventListener("error", () => this._restart());
          track.sb = sb;
        }
        for (const track of this._live()) this._pump(track);
      },
      { once: true },
    );
  }

  /** The SourceBuffer of "video" or "audio" (null if absent), for diagnostics. */
  sourceBuffer(name) {
    const track = this._tracks[TRACKS.indexOf(name)];
    return track ? track.sb : null;
  }

  _teardown() {
    if (this._objectUrl) URL.revokeObjectURL(this._objectUrl);
    this._objectUrl = null;
    if (this._ms && this._ms.readyState === "open") {
      try {
        this._ms.endOfStream();
      } catch (_) {
        // already ended
      }
    }
    this.video.removeAttribute("src");
    this._reset();
  }

  _restart() {
    // A decode or append error: reconnect, which starts again at a keyframe.
    if (this._ws) this._ws.close();
  }

  _enqueue(track, item) {
    track.queue.push(item);
    track.queued += item.data.byteLength;
    this._pump(track);
  }

  _pump(track) {
    const sb = track.sb;
    if (!sb || sb.updating || !track.queue.length) return;
    const item = track.queue.shift();
    track.queued -= item.data.byteLength;
    try {
      if (item.init && item.mime && sb.changeType) {
        sb.changeType(item.mime);
        track.mime = item.mime;
      }
      sb.appendBuffer(item.data);
    } catch (err) {
      if (err.name === "QuotaExceededError") this._trim(track, true);
      else this._restart();
    }
  }

  _afterAppend(track) {
    this._chaseLive();
    this._trim(track, false);
    this._pump(track);
  }

  _chaseLive() {
    const v = this.video;
    const b = v.buffered;
    if (!b.length) return;
    const end = b.end(b.length - 1);
    const start = b.start(b.length - 1);
    const inRange = Array.from({ length: b.length }, (_, i) => i).some(
      (i) => v.currentTime >= b.start(i) && v.currentTime <= b.end(i),
    );
    const behind = end - v.currentTime;
    if (behind > this.maxLatency || !inRange) {
      v.currentTime = Math.max(start, end - this.targetLatency);
      this.stats.skips += 1;
    } else {
      // Converge on the target gently: 5% faster while more than 0.2 s too far behind.
      v.playbackRate = behind > this.targetLatency + 0.2 ? 1.05 : 1.0;
    }
    if (v.paused) v.play().catch(() => {});
  }

  _trim(track, force) {
    const sb = track.sb;
    const v = this.video;
    if (!sb || sb.updating || !sb.buffered.length) return;
    const keep = force ? 2 : 20;
    const from = sb.buffered.start(0);
    if (v.currentTime - from > keep + 10 || force) {
      try {
        sb.remove(from, Math.max(from, v.currentTime - keep));
      } catch (_) {
        // removal raced an append; the next updateend tries again
      }
    }
  }
}
