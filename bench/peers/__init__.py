"""The side-by-side comparison (``python -m bench.peers``) and the peer servers it runs."""
