"""Wire the streamer into an aiohttp application: :func:`setup_streamer`."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

from aiohttp import web

from livecart.streamer.aiortc_hook import check_aiortc
from livecart.streamer.playback import PlaybackHandlers
from livecart.streamer.service import StreamerService
from livecart.streamer.whip import WhipHandlers

STATIC_DIR = Path(__file__).with_name("static")
STREAMER = web.AppKey("streamer", StreamerService)
PROCESS_HEADER = "X-Livecart-Process"
"""On every streamer response: the pid that answered (to check a load balancer's spread)."""
_PATHS = ("/whip/", "/ws/video/", "/hls/")
"""The application's :class:`StreamerService` (tests and the hub may read it)."""


def setup_streamer(
    app: web.Application,
    *,
    authorize: Callable[[str, str], Awaitable[bool]],
    on_live: Callable[[str, bool], Awaitable[None]],
    data_dir: Path,
    ice_hosts: Sequence[str] = (),
    redis_url: str | None = None,
) -> None:
    """Register the streamer routes, static modules and lifecycle on ``app``.

    - ``authorize(room, bearer_token)`` decides whether a WHIP publish may start.
    - ``on_live(room, is_live)`` is awaited when a room's first publisher starts
      (True) and when its last one ends (False); a replacement does not toggle it.
    - Recordings and HLS files go under ``data_dir / "media" / room``.
    - ``ice_hosts`` adds ICE host candidates on these addresses (e.g.
      ``["127.0.0.1"]`` in tests, a 1:1 NAT's address in production).
    - ``redis_url`` joins this process to the others on that Redis
      (:mod:`streamer.cluster`): video and HLS from any process, WHIP on any process.

    Raises :class:`~streamer.errors.HookBroken` if the installed aiortc is not the
    one :mod:`streamer.aiortc_hook` was written for. A ``cleanup_ctx`` closes every
    peer connection and finishes every recording on shutdown.
    """
    check_aiortc()
    service = StreamerService(
        authorize=authorize, on_live=on_live, data_dir=Path(data_dir), ice_hosts=ice_hosts
    )
    app[STREAMER] = service
    WhipHandlers(service).add_routes(app)
    PlaybackHandlers(service).add_routes(app)
    app.router.add_static("/static/streamer/", STATIC_DIR, append_version=False)

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        cluster = None
        if redis_url:
            from livecart.redis_client import connect
            from livecart.streamer.cluster import MediaCluster

            cluster = service.cluster = MediaCluster(service, await connect(redis_url))
            await cluster.start()
        yield
        await service.close()
        if cluster is not None:
            await cluster.close()

    app.cleanup_ctx.append(lifecycle)
    pid = str(os.getpid())

    async def name_process(request: web.Request, response: web.StreamResponse) -> None:
        if request.path.startswith(_PATHS):
            response.headers[PROCESS_HEADER] = pid

    app.on_response_prepare.append(name_process)
