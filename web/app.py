"""The aiohttp application factory.

``create_app(config)`` wires Redis, the hub, checkout, the streamer and the pages into
one ``web.Application``. Background work (the hub's loops, the hold sweeper, webhook
deliveries, peer connections) lives in ``cleanup_ctx``: started with the app, cancelled
and awaited on shutdown. No module globals: state hangs off ``web.AppKey``s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from livecart import connections
from livecart.addresses import parse_networks
from livecart.aiohttp_internals import check_aiohttp
from livecart.cancellation import stop_if_cancelled
from livecart.chat.buyer_tokens import BuyerTokens
from livecart.chat.hub import Hub
from livecart.chat.show_log import ShowLog
from livecart.chat.store_redis import RedisRoomStore
from livecart.checkout.hub_adapter import HubCheckout
from livecart.checkout.sandbox import SandboxProvider
from livecart.checkout.service import CheckoutService
from livecart.checkout.sweeper import sweeping
from livecart.origins import parse_origins
from livecart.redis_client import connect, trim_idle
from livecart.redis_internals import check_redis
from livecart.streamer import playback, whip
from livecart.streamer.app import STREAMER, setup_streamer
from livecart.web import api, gc_tuning, replay_api, show_api
from livecart.web.api import errors_middleware, setup_api
from livecart.web.auth import admin_token, is_host
from livecart.web.config import Config
from livecart.web.gc_tuning import CollectPolicy
from livecart.web.keys import ADMIN_TOKEN, CONFIG, HUB, REDIS
from livecart.web.live_status import LiveStatus
from livecart.web.memory_debug import setup_memory_debug
from livecart.web.metrics import METRICS_ACCESS, Sources, exporting
from livecart.web.metrics_access import MetricsAccess
from livecart.web.openapi_routes import setup_openapi
from livecart.web.pages import setup_pages
from livecart.web.replay_api import SHOW_LOG, follow_show, setup_replay_api
from livecart.web.request_log import setup_request_log
from livecart.web.show_api import CHECKOUT, setup_show_api
from livecart.web.ws_connection import HEARTBEAT, Heartbeat, running
from livecart.web.ws_handler import ws_handler

log = logging.getLogger(__name__)


async def _hub_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    assert config.redis_url, "create_app needs config.redis_url"
    redis = await connect(config.redis_url)  # one Redis or a Redis Cluster
    app[REDIS] = redis
    offset = config.clock_offset
    service = CheckoutService(
        redis,
        SandboxProvider(),
        hold_seconds=config.hold_seconds,
        holds_per_address=config.holds_per_address,
        clock=(lambda: time.time() + offset) if offset else time.time,
    )
    app[CHECKOUT] = service
    store = RedisRoomStore(redis, config.node_id or secrets.token_hex(4))
    hub = Hub(
        store,
        checkout=HubCheckout(service),
        address_chat_rate=config.address_chat_rate,
        buyer_tokens=_buyer_tokens(config),
    )
    app[HUB] = hub
    app[SHOW_LOG] = ShowLog(redis, retention=config.replay_retention)
    await hub.start()
    app[ADMIN_TOKEN] = await admin_token(hub.store, config.admin_token)
    sources = Sources(config.worker, hub, store, service, app.get(STREAMER))
    async with sweeping(service), exporting(app, sources, config.metrics_dir):
        yield
    await hub.stop()
    await redis.aclose()


COLLECT_CHECK = 1.0


async def _heartbeat_ctx(app: web.Application) -> AsyncIterator[None]:
    """Dead-peer detection for the chat WebSockets (``ws_connection.Heartbeat``); on
    shutdown, after the hub has sent its close frames, the sockets left are closed."""
    async with running(app[HEARTBEAT]):
        yield


TRIM_EVERY = 5.0

CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


def _every(
    seconds: float, name: str, step: Callable[[web.Application], Awaitable[None]]
) -> CleanupCtx:
    """A ``cleanup_ctx`` that runs a task ``name`` awaiting ``step(app)`` every ``seconds``
    while the app runs; cancelled and awaited on shutdown."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async def run() -> None:
            while True:
                await asyncio.sleep(seconds)
                stop_if_cancelled()
                await step(app)

        task = asyncio.get_running_loop().create_task(run(), name=name)
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


async def _trim_redis(app: web.Application) -> None:
    """Close what a burst left idle in a cluster client's node pools
    (``redis_client.trim_idle``; a single Redis's pool trims itself)."""
    redis = app.get(REDIS)
    if redis is not None:
        await trim_idle(redis)


class _Collector:
    """Free what closed connections left in reference cycles, when
    ``gc_tuning.CollectPolicy`` says it is time."""

    def __init__(self) -> None:
        self.policy = CollectPolicy()

    async def __call__(self, app: web.Application) -> None:
        hub = app.get(HUB)
        if hub is None:
            return
        stats = hub.stats()
        ended, now = stats["sessions_ended"], asyncio.get_running_loop().time()
        if self.policy.due(ended, stats["sessions"], now):
            gc_tuning.collect()
            self.policy.done(ended, now)


def _buyer_tokens(config: Config) -> BuyerTokens | None:
    """The verifier of the shop's buyer tokens, when a key is configured."""
    if not config.buyer_tokens_configured:
        return None
    return BuyerTokens(
        secret=config.buyer_jwt_key.encode() if config.buyer_jwt_key else None,
        public_key=config.buyer_jwt_public_key,
        audience=config.buyer_jwt_audience,
        issuer=config.buyer_jwt_issuer,
    )


def _stream_hooks(app: web.Application) -> None:
    """Let the streamer ask the hub who may publish, and tell viewers when it goes live."""

    async def authorize(room_id: str, token: str) -> bool:
        return await is_host(app[HUB].store, room_id, token, app[ADMIN_TOKEN])

    status = LiveStatus(lambda: app[HUB], app[CONFIG].stream_end_grace)

    async def close_status(_app: web.Application) -> AsyncIterator[None]:
        yield
        await status.close()

    app.cleanup_ctx.append(close_status)

    async def on_show(room_id: str, show: str, started: bool) -> None:
        await follow_show(app, room_id, show, started)

    setup_streamer(
        app,
        authorize=authorize,
        on_live=status.on_live,
        data_dir=app[CONFIG].data_dir,
        ice_hosts=app[CONFIG].ice_hosts,
        redis_url=app[CONFIG].redis_url,
    )
    app[STREAMER].on_show = on_show


def runner_options(config: Config) -> dict[str, Any]:
    """What ``web.run_app`` / ``web.AppRunner`` take besides the app, for every server of
    ``config``: ``keepalive_timeout`` is the handshake deadline. aiohttp (3.14.5 on)
    arms it when a connection opens and re-arms it after each response, and closes the
    connection if no complete request head has arrived by then, however slowly its
    bytes trickle in (headers a byte at a time included); an idle keep-alive
    connection closes after the same time."""
    return {"keepalive_timeout": config.handshake_timeout}


def create_app(config: Config) -> web.Application:
    """The node's application. Raises ``RedisInternalsChanged`` or
    ``AiohttpInternalsChanged`` (as ``setup_streamer`` raises ``HookBroken``) when the
    installed redis-py or aiohttp is not one whose internals livecart's fences know."""
    check_redis()
    check_aiohttp()
    app = web.Application(client_max_size=256 * 1024, middlewares=[errors_middleware])
    app[CONFIG] = config
    connections.setup(
        app,
        connections.Gate(
            trusted_proxies=parse_networks(config.trusted_proxies),
            max_per_address=config.max_sockets_per_address,
            public_url=config.public_url,
            allowed_origins=parse_origins(config.allowed_origins),
        ),
    )
    app[METRICS_ACCESS] = MetricsAccess.parse(config.metrics_allow)
    app[HEARTBEAT] = Heartbeat(config.ws_heartbeat)
    app.cleanup_ctx.append(_heartbeat_ctx)  # before the hub: stopped after it
    app.cleanup_ctx.append(_hub_ctx)
    app.cleanup_ctx.append(_every(COLLECT_CHECK, "gc-collector", _Collector()))
    app.cleanup_ctx.append(_every(TRIM_EVERY, "redis-trim", _trim_redis))
    app.router.add_get("/ws/{room}", ws_handler)
    setup_api(app)
    setup_show_api(app)
    setup_replay_api(app)
    _stream_hooks(app)
    setup_openapi(
        app,
        (
            *(op for op, _ in api.ROUTES),
            *(op for op, _ in show_api.ROUTES),
            *(op for op, _ in replay_api.ROUTES),
            *whip.OPERATIONS,
            *playback.OPERATIONS,
        ),
    )
    setup_pages(app)
    setup_request_log(app)
    setup_memory_debug(app)  # LIVECART_TRACEMALLOC only
    return app
