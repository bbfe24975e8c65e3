"""Typed application state (``web.AppKey``): no module globals."""

from __future__ import annotations

from aiohttp import web

from livecart.chat.hub import Hub
from livecart.redis_client import AnyRedis
from livecart.web.config import Config

CONFIG = web.AppKey("config", Config)
HUB = web.AppKey("hub", Hub)
ADMIN_TOKEN = web.AppKey("admin_token", str)
REDIS: web.AppKey[AnyRedis] = web.AppKey("redis")
"""The hub's and checkout's Redis client (``/metrics`` counts its connections)."""
