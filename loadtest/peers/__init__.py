"""The side-by-side comparison (``livecart bench-peers``) and the peer servers it runs."""
