"""The aiohttp application factory.

``create_app(config)`` wires Redis, the hub and (when installed) checkout and the
streamer into one ``web.Application``. Background work (the hub's loops) lives in a
``cleanup_ctx``: started with the app, cancelled and awaited on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp import web
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from chat.hub import Hub
from web.api import errors_middleware, setup_api
from web.auth import admin_token
from web.config import Config
from web.keys import ADMIN_TOKEN, CONFIG, HUB, REDIS
from web.ws_handler import ws_handler

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


def redis_client(url: str) -> aioredis.Redis:
    """A client that fails fast when Redis is away (the hub answers ``unavailable``)
    and retries once, so the first command after a Redis restart does not fail on a
    stale pooled connection."""
    client: aioredis.Redis = aioredis.Redis.from_url(
        url,
        socket_connect_timeout=1.0,
        socket_timeout=5.0,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 1),
        max_connections=256,
    )
    return client


async def _hub_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    assert config.redis_url, "create_app needs config.redis_url"
    redis = redis_client(config.redis_url)
    app[REDIS] = redis
    hub = Hub(redis, node_id=config.node_id)
    app[HUB] = hub
    await hub.start()
    app[ADMIN_TOKEN] = await admin_token(hub.store, config.admin_token)
    yield
    await hub.stop()
    await redis.aclose()


def create_app(config: Config) -> web.Application:
    app = web.Application(client_max_size=256 * 1024, middlewares=[errors_middleware])
    app[CONFIG] = config
    app.cleanup_ctx.append(_hub_ctx)
    app.router.add_get("/ws/{room}", ws_handler)
    setup_api(app)
    if STATIC.is_dir():
        app.router.add_static("/static/", STATIC)
    return app
