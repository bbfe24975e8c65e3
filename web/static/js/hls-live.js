// The room's live HLS playlist played through MSE, and the server time of the picture.
//
// For viewers on the HLS path in a browser with MediaSource (the CDN path; `?hls=1`
// on the room page). It polls video.m3u8, appends each new segment (and its init
// segment) to one SourceBuffer, and knows for every appended segment its media start
// (the first `tfdt` of the segment, 90 kHz) and its EXT-X-PROGRAM-DATE-TIME, so
// `serverTime()` is the server's clock at the moment the picture shown was captured.
// The same small interface as LivePlayer: start/stop and "status" events
// (connecting | live | offline).

import { append, fetchBytes, remove } from "./source-buffer.js";

const POLL_MS = 1000;
const START_BEHIND = 3; // segments behind the live edge to start with
const TIMESCALE = 90_000;

export function parsePlaylist(text) {
  const segments = [];
  let sequence = 0;
  let map = null;
  let pdt = null;
  let duration = 0;
  let n = 0;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#EXT-X-MEDIA-SEQUENCE:")) sequence = Number(line.slice(22));
    else if (line.startsWith("#EXT-X-MAP:")) map = /URI="([^"]+)"/.exec(line)[1];
    else if (line.startsWith("#EXT-X-PROGRAM-DATE-TIME:")) pdt = Date.parse(line.slice(25)) / 1000;
    else if (line.startsWith("#EXTINF:")) duration = parseFloat(line.slice(8));
    else if (line && !line.startsWith("#")) {
      segments.push({ seq: sequence + n, uri: line, init: map, pdt, duration });
      n += 1;
      pdt = null;
    }
  }
  return segments;
}

/** The first tfdt (base media decode time) of an fMP4 segment, in seconds. */
export function firstDecodeTime(buffer) {
  const view = new DataView(buffer);
  const find = (start, end, kind) => {
    for (let pos = start; pos + 8 <= end; ) {
      const size = view.getUint32(pos);
      const type = String.fromCharCode(view.getUint8(pos + 4), view.getUint8(pos + 5), view.getUint8(pos + 6), view.getUint8(pos + 7));
      if (type === kind) return [pos, pos + size];
      if (size < 8) return null;
      pos += size;
    }
    return null;
  };
  const moof = find(0, buffer.byteLength, "moof");
  const traf = moof && find(moof[0] + 8, moof[1], "traf");
  const tfdt = traf && find(traf[0] + 8, traf[1], "tfdt");
  if (!tfdt) return null;
  const version = view.getUint8(tfdt[0] + 8);
  const value = version === 1 ? Number(view.getBigUint64(tfdt[0] + 12)) : view.getUint32(tfdt[0] + 12);
  return value / TIMESCALE;
}

export class HlsLivePlayer extends EventTarget {
  constructor(video, base) {
    super();
    this.video = video;
    this.base = base; // "/hls/<room>/"
    this.status = "connecting";
    this.timeline = []; // {start, duration, pdt} of appended segments
    this._next = null; // next media sequence number to append
    this._init = null;
    this._sb = null;
    this._ms = null;
    this._timer = null;
    this._running = false;
  }

  start() {
    this._running = true;
    this._poll();
  }

  stop() {
    this._running = false;
    clearTimeout(this._timer);
  }

  /** Server time (s) of the picture shown, or null before the first segment. */
  serverTime() {
    const t = this.video.currentTime;
    for (let i = this.timeline.length - 1; i >= 0; i--) {
      const s = this.timeline[i];
      if (s.start <= t + 0.001 && s.pdt !== null) return s.pdt + Math.max(0, t - s.start);
    }
    return null;
  }

  async _poll() {
    if (!this._running) return;
    try {
      const res = await fetch(`${this.base}video.m3u8`, { cache: "no-store" });
      if (res.status === 404) this._status("offline");
      else if (res.ok) await this._take(parsePlaylist(await res.text()));
    } catch (_) {
      this._status("offline");
    }
    this._timer = setTimeout(() => this._poll(), POLL_MS);
  }

  async _take(segments) {
    if (!segments.length) return;
    if (this._next === null || this._next < segments[0].seq || this._next > segments[segments.length - 1].seq + 1) {
      this._next = segments[Math.max(0, segments.length - START_BEHIND)].seq;
    }
    for (const seg of segments) {
      if (seg.seq < this._next) continue;
      await this._append(seg);
      this._next = seg.seq + 1;
    }
  }

  async _append(seg) {
    const sb = await this._buffer(seg);
    if (seg.init !== this._init) {
      await append(sb, await fetchBytes(this.base + seg.init));
      this._init = seg.init;
    }
    const data = await fetchBytes(this.base + seg.uri);
    const start = firstDecodeTime(data);
    await append(sb, data);
    if (start !== null) this.timeline.push({ start, duration: seg.duration, pdt: seg.pdt });
    if (this.timeline.length > 100) this.timeline.shift();
    const ranges = sb.buffered;
    if (ranges.length && (this.video.currentTime < ranges.start(0) || this.video.currentTime > ranges.end(ranges.length - 1))) {
      this.video.currentTime = ranges.start(ranges.length - 1);
    }
    this.video.play().then(() => this._status("live")).catch(() => {});
    const now = this.video.currentTime;
    if (now > 60) await remove(sb, 0, now - 30);
  }

  _buffer(seg) {
    if (this._sb) return Promise.resolve(this._sb);
    return new Promise((resolve) => {
      const ms = new MediaSource();
      this._ms = ms;
      this.video.src = URL.createObjectURL(ms);
      ms.addEventListener(
        "sourceopen",
        async () => {
          // The codec string comes from the master playlist; fall back to baseline.
          let codec = "avc1.42e01f";
          try {
            const master = await (await fetch(`${this.base}index.m3u8`, { cache: "no-store" })).text();
            const m = /CODECS="([^",]+)/.exec(master);
            if (m) codec = m[1];
          } catch (_) {
            /* keep the default */
          }
          this._sb = ms.addSourceBuffer(`video/mp4; codecs="${codec}"`);
          this._sb.mode = "segments";
          resolve(this._sb);
        },
        { once: true },
      );
      void seg;
    });
  }

  _status(value) {
    if (this.status === value) return;
    this.status = value;
    this.dispatchEvent(new CustomEvent("status", { detail: value }));
  }
}
