// Plays recorded fMP4 segments with Media Source Extensions: the replay of a show.
//
//   const p = new SegmentPlayer(video, { base, segments, codec, audio });
//   p.start(); p.seek(754.2);
//
// `segments` are [start, duration, uri, init, audio_uri] in media time (the recording's
// own timestamps, so video.currentTime is media time); `base` prefixes every URI.
// Buffers from the position up to AHEAD seconds, drops what is BEHIND seconds behind,
// and on a seek starts again at the segment holding the target: a 3-hour show never
// loads more than its next few segments. Safari without MSE gets the show's HLS
// playlist natively (`hls`), whose media time is the same.

import { append, fetchBytes, remove } from "./source-buffer.js";

const AHEAD = 16;
const BEHIND = 30;

export class SegmentPlayer extends EventTarget {
  constructor(video, { base, segments, codec, audio, hls }) {
    super();
    this.video = video;
    this.base = base;
    this.segments = segments;
    this.codec = codec;
    this.audio = audio; // audio init URI (Opus), or null
    this.hls = hls;
    this._ms = null;
    this._tracks = [];
    this._next = 0; // index of the next segment to append
    this._busy = false;
    this._generation = 0;
    this.end = segments.length ? segments[segments.length - 1][0] + segments[segments.length - 1][1] : 0;
    this.first = segments.length ? segments[0][0] : 0;
  }

  start() {
    if (!("MediaSource" in window) && this.hls) {
      this.video.src = this.hls; // native HLS (Safari)
      return;
    }
    const ms = new MediaSource();
    this._ms = ms;
    this.video.src = URL.createObjectURL(ms);
    ms.addEventListener(
      "sourceopen",
      () => {
        const video = { mime: `video/mp4; codecs="${this.codec}"`, kind: "video", init: null };
        const wanted = [video];
        const audioMime = 'audio/mp4; codecs="opus"';
        if (this.audio && MediaSource.isTypeSupported(audioMime)) {
          wanted.push({ mime: audioMime, kind: "audio", init: this.audio });
        }
        for (const t of wanted) {
          t.sb = ms.addSourceBuffer(t.mime);
          t.sb.mode = "segments";
        }
        this._tracks = wanted;
        ms.duration = this.end;
        this._seekTo(this.first);
      },
      { once: true },
    );
    this.video.addEventListener("timeupdate", () => this._pump());
    this.video.addEventListener("seeking", () => {
      if (!this._buffered(this.video.currentTime)) this._seekTo(this.video.currentTime);
    });
  }

  seek(t) {
    const target = Math.max(this.first, Math.min(t, this.end - 0.05));
    this.video.currentTime = target;
    if (this._ms && !this._buffered(target)) this._seekTo(target);
  }

  _index(t) {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.segments[mid][0] <= t) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  _buffered(t) {
    const ranges = this._tracks.length ? this._tracks[0].sb.buffered : null;
    if (!ranges) return false;
    for (let i = 0; i < ranges.length; i++) if (ranges.start(i) <= t + 0.1 && t < ranges.end(i)) return true;
    return false;
  }

  _seekTo(t) {
    this._generation += 1;
    this._next = this._index(t);
    this._inits = new Map(); // track kind -> init URI appended last
    this._busy = false;
    this._pump();
  }

  async _pump() {
    if (this._busy || !this._ms || this._ms.readyState !== "open" || !this._tracks.length) return;
    const now = this.video.currentTime;
    if (this._next >= this.segments.length) {
      if (this._tracks.every((t) => !t.sb.updating)) {
        try {
          this._ms.endOfStream();
        } catch (_) {
          /* already ended */
        }
      }
      return;
    }
    const [start] = this.segments[this._next];
    if (start > now + AHEAD) return;
    this._busy = true;
    const generation = this._generation;
    try {
      const seg = this.segments[this._next];
      const parts = await Promise.all(
        this._tracks.map((t) => this._load(t, t.kind === "video" ? seg[3] : t.init, t.kind === "video" ? seg[2] : seg[4])),
      );
      if (generation !== this._generation) return;
      for (let i = 0; i < this._tracks.length; i++) {
        const t = this._tracks[i];
        for (const data of parts[i]) await append(t.sb, data);
        if (now > BEHIND) await remove(t.sb, 0, Math.max(0, now - BEHIND));
      }
      this._next += 1;
      this.dispatchEvent(new CustomEvent("buffered", { detail: start }));
    } catch (err) {
      this.dispatchEvent(new CustomEvent("error", { detail: String(err) }));
    } finally {
      if (generation === this._generation) this._busy = false;
    }
    if (generation === this._generation) this._pump();
  }

  async _load(track, init, uri) {
    const out = [];
    if (!uri) return out;
    if (this._inits.get(track.kind) !== init) {
      out.push(await fetchBytes(this.base + init));
      this._inits.set(track.kind, init);
    }
    out.push(await fetchBytes(this.base + uri));
    return out;
  }
}
