"""Media for livecart: WHIP ingest, packaging by copy, low-latency and HLS playback.

Entry point: :func:`streamer.app.setup_streamer`. Guide: docs/streaming.md.

Pure cores (no aiohttp, no aiortc): ``h264``, ``fmp4``, ``packager``, ``opus``,
``segmenter``, ``hls``, ``registry``, ``sdp_check``, ``fanout``, ``channel``.
I/O adapters: ``recording`` (disk), ``aiortc_hook`` (the only code touching aiortc
internals), ``publisher`` (one peer connection), ``service`` (per-app state),
``whip`` and ``playback`` (HTTP/WebSocket handlers), ``app`` (wiring).
Tools: ``synthetic`` (test/bench sources), ``bench_video`` (benchmark).
"""
