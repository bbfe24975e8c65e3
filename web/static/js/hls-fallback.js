// For browsers without MediaSource (iPhone Safari): play the room's HLS playlist
// natively, with the same small interface as LivePlayer (start/stop, "status" events:
// connecting | live | offline). HLS runs a few seconds behind the WebSocket path.

const RETRY_MS = 3000;

export function needsHls(video) {
  return !("MediaSource" in window) && video.canPlayType("application/vnd.apple.mpegurl") !== "";
}

export class HlsPlayer extends EventTarget {
  constructor(video, url) {
    super();
    this.video = video;
    this.url = url;
    this.status = "connecting";
    this._running = false;
    this._timer = null;
    video.addEventListener("playing", () => this._status("live"));
    video.addEventListener("error", () => this._retry());
    video.addEventListener("ended", () => this._retry());
  }

  start() {
    this._running = true;
    this._load();
  }

  /** Server time (s) of the picture shown, from the playlist's PROGRAM-DATE-TIME (Safari
   * exposes it as getStartDate()), or null while unknown. */
  serverTime() {
    const start = typeof this.video.getStartDate === "function" ? this.video.getStartDate().getTime() : NaN;
    return Number.isFinite(start) ? start / 1000 + this.video.currentTime : null;
  }

  stop() {
    this._running = false;
    clearTimeout(this._timer);
    this.video.removeAttribute("src");
    this.video.load();
  }

  _load() {
    this._status("connecting");
    this.video.src = `${this.url}?t=${Date.now()}`;
    this.video.play().catch(() => {});
  }

  _retry() {
    if (!this._running) return;
    this._status("offline"); // no playlist yet (404) or the show stopped
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this._load(), RETRY_MS);
  }

  _status(value) {
    if (this.status === value) return;
    this.status = value;
    this.dispatchEvent(new CustomEvent("status", { detail: value }));
  }
}
