"""Who is calling: the admin token (any room) or a room's host token.

Host tokens are stored only as SHA-256 in the room record. Comparisons are constant
time. Refusals are a bool: callers answer 401/4001 themselves; a store that cannot be
reached raises ``StoreUnavailable``.
"""

from __future__ import annotations

import hmac
import secrets

from livecart.chat import identity
from livecart.chat.store import RoomStore


async def admin_token(store: RoomStore, configured: str | None) -> str:
    """The configured admin token, or the one every node shares from Redis (created by
    the first node that asks)."""
    if configured:
        return configured
    return await store.admin_token("adm_" + secrets.token_urlsafe(24))


def _bytes(token: str) -> bytes:
    """A header's text as bytes; any text at all (aiohttp decodes headers as UTF-8 with
    ``surrogateescape``, so a token may hold lone surrogates)."""
    return token.encode("utf-8", "surrogateescape")


def is_admin(token: str | None, admin: str) -> bool:
    """True for the admin token. Any text is refused or accepted, never an error
    (``hmac.compare_digest`` raises on non-ASCII ``str``, so bytes are compared)."""
    return bool(token) and hmac.compare_digest(_bytes(str(token)), _bytes(admin))


async def is_host(store: RoomStore, room_id: str, token: str | None, admin: str) -> bool:
    """True for the room's host token or the admin token. May raise when Redis is away."""
    if not token:
        return False
    if is_admin(token, admin):
        return True
    if not token.isascii():
        return False  # host tokens are URL-safe base64
    stored = (await store.meta(room_id)).get("host_token_sha", "")
    return bool(stored) and hmac.compare_digest(_bytes(stored), _bytes(identity.hash_token(token)))


def bearer(header: str | None) -> str | None:
    if header and header.startswith("Bearer "):
        return header[7:].strip() or None
    return None
