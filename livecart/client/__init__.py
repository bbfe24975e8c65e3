"""A Python client for livecart rooms: bots, native app backends, integration tests.

::

    from livecart import client

    async with client.connect("http://localhost:8080", "demo", name="Bot") as room:
        print(room.snapshot.room.title, room.state.pinned_product)
        seq = await room.chat("hi")            # CommandError(code, message) if refused
        async for event in room.events():      # typed, in order, once each
            if isinstance(event, client.ChatMessage):
                ...

It speaks docs/protocol.md over ``websockets`` with either subprotocol, reconnects and
resumes by itself (``since``/``epoch``, the protocol's backoff) and runs host commands
when connected with the room's host token. The layers:

- ``livecart.client.events``: what arrives (room events, markers, snapshot, reply);
- ``livecart.client.auctions``: auctions and giveaways, typed, and the markers for what
  each ``auction``/``giveaway`` event changed; pure;
- ``livecart.client.protocol``: position, frame reading, backoff; pure;
- ``livecart.client.state``: the room as of the last frame; pure;
- ``livecart.client.commands``: every command as a method;
- ``livecart.client.connection``: the socket, the pump and the reconnects (loaded on
  first use of ``connect``: the modules above import no I/O library).
"""

from typing import TYPE_CHECKING, Any

from livecart.client.auctions import (
    Auction,
    AuctionCancelled,
    AuctionClosed,
    AuctionExtended,
    AuctionSettled,
    AuctionStarted,
    Bid,
    BidPlaced,
    BidResult,
    Giveaway,
    GiveawayDrawn,
    GiveawayOpened,
    Outbid,
    Winner,
    recompute_draw,
)
from livecart.client.errors import (
    ClientError,
    CloseCode,
    Closed,
    CommandError,
    Disconnected,
    ErrorCode,
)
from livecart.client.events import (
    AuctionChanged,
    ChatDeleted,
    ChatMessage,
    ChatUser,
    ConnectionLost,
    Event,
    GiveawayChanged,
    LineupChanged,
    LiveChanged,
    Moderated,
    Pinned,
    ProductChanged,
    Reply,
    Reset,
    Resumed,
    RoomChanged,
    RoomEvent,
    RoomInfo,
    SaleChanged,
    Skipped,
    Snapshot,
    UnknownEvent,
    You,
)
from livecart.client.protocol import Backoff, ClientProtocol
from livecart.client.state import RoomView

if TYPE_CHECKING:
    from livecart.client.connection import RoomConnection, connect


def __getattr__(name: str) -> Any:
    # The socket side loads on first use, so the pure modules of this package import
    # no asyncio or websockets (tests/pure/test_boundaries.py).
    if name in ("RoomConnection", "connect"):
        from livecart.client import connection

        return getattr(connection, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Auction",
    "AuctionCancelled",
    "AuctionChanged",
    "AuctionClosed",
    "AuctionExtended",
    "AuctionSettled",
    "AuctionStarted",
    "Backoff",
    "Bid",
    "BidPlaced",
    "BidResult",
    "ChatDeleted",
    "ChatMessage",
    "ChatUser",
    "ClientError",
    "ClientProtocol",
    "CloseCode",
    "Closed",
    "CommandError",
    "ConnectionLost",
    "Disconnected",
    "ErrorCode",
    "Event",
    "Giveaway",
    "GiveawayChanged",
    "GiveawayDrawn",
    "GiveawayOpened",
    "LineupChanged",
    "LiveChanged",
    "Moderated",
    "Outbid",
    "Pinned",
    "ProductChanged",
    "Reply",
    "Reset",
    "Resumed",
    "RoomChanged",
    "RoomConnection",
    "RoomEvent",
    "RoomInfo",
    "RoomView",
    "SaleChanged",
    "Skipped",
    "Snapshot",
    "UnknownEvent",
    "Winner",
    "You",
    "connect",
    "recompute_draw",
]
