// Publish a MediaStream to livecart with WHIP (RFC 9725).
//
//   import { WhipPublisher } from "/static/streamer/whip.js";
//   const pub = new WhipPublisher("/whip/my-room", { token: hostToken });
//   await pub.start(await navigator.mediaDevices.getUserMedia({ video: true, audio: true }));
//   ...
//   await pub.stop();
//
// The server only takes H.264 video (it never transcodes), so H.264 is put
// first in the codec preferences. ICE candidates are gathered before the offer
// is sent (the server does not take trickle ICE).

const GATHER_TIMEOUT_MS = 2000;

/** A failed WHIP request: HTTP status, server text and Retry-After seconds (for 429). */
export class WhipError extends Error {
  constructor(status, text, retryAfter) {
    super(`WHIP request failed: ${status} ${text}`.trim());
    this.name = "WhipError";
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

function preferH264(transceiver) {
  if (typeof RTCRtpReceiver === "undefined" || !RTCRtpReceiver.getCapabilities) return;
  if (!transceiver.setCodecPreferences) return;
  const caps = RTCRtpReceiver.getCapabilities("video");
  if (!caps) return;
  const h264 = caps.codecs.filter((c) => c.mimeType.toLowerCase() === "video/h264");
  // Constrained baseline with packetization-mode=1 first: what every decoder plays.
  h264.sort((a, b) => score(b) - score(a));
  const rest = caps.codecs.filter((c) => c.mimeType.toLowerCase() === "video/rtx");
  if (h264.length) transceiver.setCodecPreferences([...h264, ...rest]);
}

function score(codec) {
  const fmtp = codec.sdpFmtpLine || "";
  let s = 0;
  if (fmtp.includes("packetization-mode=1")) s += 2;
  if (fmtp.includes("profile-level-id=42e0") || fmtp.includes("profile-level-id=4200")) s += 1;
  return s;
}

function gatheringDone(pc, timeoutMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    function done() {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    }
    function check() {
      if (pc.iceGatheringState === "complete") done();
    }
    pc.addEventListener("icegatheringstatechange", check);
  });
}

/** One WHIP publish session. */
export class WhipPublisher extends EventTarget {
  /**
   * @param {string} endpoint  WHIP endpoint, e.g. "/whip/<room>" (relative to the page is fine)
   * @param {{token?: string, iceServers?: RTCIceServer[], maxBitrate?: number}} options
   */
  constructor(endpoint, options = {}) {
    super();
    this.endpoint = new URL(endpoint, document.baseURI).href;
    this.token = options.token || "";
    this.iceServers = options.iceServers || [];
    this.maxBitrate = options.maxBitrate || 2_500_000;
    this.pc = null;
    this.location = null;
  }

  /** Connection state of the peer connection ("new" before start). */
  get state() {
    return this.pc ? this.pc.connectionState : "new";
  }

  /** Start publishing `stream`; resolves once the server accepted the offer. */
  async start(stream) {
    if (this.pc) throw new Error("already started");
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle" });
    this.pc = pc;
    pc.addEventListener("connectionstatechange", () => {
      this.dispatchEvent(new CustomEvent("state", { detail: pc.connectionState }));
    });
    for (const track of stream.getTracks()) {
      const transceiver = pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
      if (track.kind === "video") {
        preferH264(transceiver);
        const params = transceiver.sender.getParameters();
        if (params.encodings && params.encodings.length) {
          params.encodings[0].maxBitrate = this.maxBitrate;
          transceiver.sender.setParameters(params).catch(() => {});
        }
      }
    }
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await gatheringDone(pc, GATHER_TIMEOUT_MS);
      const headers = { "Content-Type": "application/sdp" };
      if (this.token) headers.Authorization = `Bearer ${this.token}`;
      const res = await fetch(this.endpoint, {
        method: "POST",
        headers,
        body: pc.localDescription.sdp,
      });
      const text = await res.text();
      if (res.status !== 201) {
        const retry = Number(res.headers.get("Retry-After")) || undefined;
        throw new WhipError(res.status, text, retry);
      }
      this.location = new URL(res.headers.get("Location"), this.endpoint).href;
      await pc.setRemoteDescription({ type: "answer", sdp: text });
    } catch (err) {
      pc.close();
      this.pc = null;
      throw err;
    }
  }

  /** End the session: DELETE the session URL and close the connection. */
  async stop() {
    const location = this.location;
    this.location = null;
    if (this.pc) {
      this.pc.close();
      this.pc = null;
    }
    if (location) {
      const headers = this.token ? { Authorization: `Bearer ${this.token}` } : {};
      await fetch(location, { method: "DELETE", headers }).catch(() => {});
    }
  }
}
