"""``python -m bench.peers``: livecart next to python-socketio (``bench.peers.compare``)."""

from __future__ import annotations

from bench.peers import compare

if __name__ == "__main__":
    raise SystemExit(compare.main(compare.parser().parse_args()))
