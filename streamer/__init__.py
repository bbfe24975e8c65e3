"""Media for livecart: WHIP ingest, packaging by copy, low-latency and HLS playback.

Entry point: :func:`streamer.app.setup_streamer`. Guide: docs/streaming.md.

Pure cores (plain data in, bytes/events out; no I/O, no clock): ``h264``, ``fmp4``,
``packager``, ``opus``, ``segmenter``, ``hls``, ``registry``, ``sdp_check``, ``relay``
(the message format between processes and the edge's sync rules), and
``fanout`` (writes to transports it is handed, never awaits). ``channel`` composes them
per room, still without aiohttp or aiortc and without blocking the loop: it hands each
show to a ``recorder``, one thread per show that runs the segmenter, ``aac`` (the one
transcode, PyAV) and ``recording`` (the on-disk format and its blocking writer).
Adapters: ``aiortc_hook`` (the only code touching aiortc internals), ``publisher`` (one
peer connection), ``service`` (per-app state), ``cluster`` (the relay and HLS
over Redis pub/sub: one show across processes and nodes), ``whip_routing`` (which
process holds a room's WHIP publisher, and DELETEs routed to it), ``whip`` and
``playback`` (HTTP/WebSocket handlers), ``app`` (wiring).
Tools: ``synthetic`` (test and benchmark sources; the video benchmark is the
repository's ``bench/video.py``, not installed).
"""

if __name__ != "livecart.streamer":  # one importable name: docs/architecture.md, "Packaging"
    raise ImportError(f"{__name__}: this folder is the package livecart.streamer; import that")
