// Room events in step with the picture, for viewers behind live (HLS).
//
// An HLS viewer sees the host several seconds late; the room's events reach it at once.
// A VideoClock holds each batch frame until the picture shown reaches the server time
// of its events (`ts`), then hands it on, in order: the pin, the sale and the stock
// change when the video shows the host doing it. `serverTime()` is the player's (the
// EXT-X-PROGRAM-DATE-TIME of the segment shown plus the position in it); while it is
// unknown, frames pass at once. Snapshots and resumes are never held (they replace the
// state), and frames queued before one are let out first.

const TICK_MS = 40;

export class VideoClock {
  constructor(serverTime, apply, position = () => null) {
    this.serverTime = serverTime;
    this.apply = apply;
    this.position = position;
    this.queue = []; // [{frame, at}] in arrival order
    this.lastTs = null; // newest event time seen (s), and when (performance.now)
    this.lastSeenAt = 0;
    this.log = []; // {seq, type, ts, video: serverTime at release} of released events
    this._timer = setInterval(() => this._release(), TICK_MS);
  }

  push(frame) {
    const shown = this.serverTime();
    if (frame.t !== "batch" || shown === null) {
      this._flush();
      this._deliver(frame, shown);
      return;
    }
    let at = null;
    for (const e of frame.events || []) if (typeof e.ts === "number") at = Math.max(at ?? 0, e.ts / 1000);
    if (at !== null) {
      this.lastTs = at;
      this.lastSeenAt = performance.now();
    } else if (this.lastTs !== null) {
      at = this.lastTs + (performance.now() - this.lastSeenAt) / 1000; // the server's now
    }
    if (at === null || (!this.queue.length && at <= shown)) this._deliver(frame, shown);
    else this.queue.push({ frame, at });
  }

  _release() {
    if (!this.queue.length) return;
    const shown = this.serverTime();
    while (this.queue.length && (shown === null || this.queue[0].at <= shown)) {
      this._deliver(this.queue.shift().frame, shown);
    }
  }

  _flush() {
    while (this.queue.length) this._deliver(this.queue.shift().frame, this.serverTime());
  }

  _deliver(frame, shown) {
    for (const e of frame.events || []) {
      if (e.type === "pin" || e.type === "sale") {
        this.log.push({ seq: e.seq, type: e.type, ts: e.ts, video: shown, position: this.position() });
        if (this.log.length > 100) this.log.shift();
      }
    }
    this.apply(frame);
  }
}
