"""Typed application state (``web.AppKey``): no module globals."""

from __future__ import annotations

import redis.asyncio as aioredis
from aiohttp import web

from livecart.chat.hub import Hub
from livecart.web.config import Config

CONFIG = web.AppKey("config", Config)
REDIS = web.AppKey("redis", aioredis.Redis)
HUB = web.AppKey("hub", Hub)
ADMIN_TOKEN = web.AppKey("admin_token", str)
