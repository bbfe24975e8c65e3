"""Test helpers over ``livecart.client``: wait for an event, read the chat a client saw."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from livecart import client
from livecart.client import RoomConnection


async def until(
    room: RoomConnection,
    predicate: Callable[[client.Event], bool],
    timeout: float = 5.0,
    seen: list[client.Event] | None = None,
) -> client.Event:
    """Read ``room.events()`` up to the first event ``predicate`` holds for and return
    it; every event read on the way (that one too) is appended to ``seen``."""
    async with asyncio.timeout(timeout):
        async for event in room.events():
            if seen is not None:
                seen.append(event)
            if predicate(event):
                return event
    raise AssertionError("the events ended first")


def is_chat(text: str) -> Callable[[client.Event], bool]:
    return lambda e: isinstance(e, client.ChatMessage) and e.text == text


def chat_texts(events: list[client.Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, client.ChatMessage)]


async def until_state(
    room: RoomConnection, predicate: Callable[[], bool], timeout: float = 5.0
) -> None:
    """Read events until ``predicate()`` holds (checked first, then after each event)."""
    if not predicate():
        await until(room, lambda _: predicate(), timeout)
