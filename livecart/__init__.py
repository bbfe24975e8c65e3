"""livecart: a self-hostable server for live-stream shopping.

One installed package; each part is a subpackage with one job (docs/architecture.md):

- ``livecart.chat``: real-time delivery (hub, rooms, sessions, wire codec, chat rules);
- ``livecart.checkout``: commerce (catalog, flash sales, holds, payments, orders);
- ``livecart.streamer``: media (WHIP ingest, fMP4 packaging, playback, recording);
- ``livecart.web``: the process (aiohttp app, routes, auth, pages, ``livecart serve``);
- ``livecart.loadtest``: simulated viewers and their reports (``livecart loadtest``).

The modules directly in this package are the infrastructure the parts share without
importing each other: the Redis launcher and client factory, the room key space,
WebSocket frames, the transport contract and loop cancellation. ``livecart.cli`` is the
``livecart`` command, the one place that composes the parts' command lines.
"""
