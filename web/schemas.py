"""The shapes of the HTTP API's JSON: request bodies the handlers decode, replies.

Request bodies are ``msgspec.Struct``s: ``livecart.http_contract.decode_json`` checks a
body against one (types, ranges, patterns, lengths), and the OpenAPI document describes
the same class. Limits come from ``livecart.limits`` and patterns from ``chat.commands``,
so the WebSocket command parser (which runs after, on the same values) and the HTTP
declaration share them. Unknown fields are
ignored, as the command parser ignores them. Reply Structs document what the handlers
answer; the schemathesis test checks the answers against them. Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from livecart import limits as lim
from livecart.chat import commands as c

ROOM_ID = rf"^[a-z0-9][a-z0-9-]{{0,{lim.MAX_ROOM_ID_LEN - 1}}}$"
NO_CONTROL = r"^[^\u0000-\u001f\u007f-\u009f]*$"

RoomId = Annotated[
    str,
    Meta(
        pattern=ROOM_ID,
        description=f"lowercase letters, digits and '-', at most {lim.MAX_ROOM_ID_LEN}",
    ),
]
ProductId = Annotated[str, Meta(pattern=c.PRODUCT_ID, description="a product id")]
Price = Annotated[int, Meta(ge=0, le=lim.MAX_PRICE, description="minor units (cents)")]
Currency = Annotated[str, Meta(pattern=c.CURRENCY, description="ISO 4217, e.g. CNY")]
ProductName = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=lim.MAX_PRODUCT_NAME_LEN,
        pattern=NO_CONTROL,
        description="trimmed, it must keep at least one character",
    ),
]
ImageUrl = Annotated[
    str,
    Meta(
        max_length=lim.MAX_IMAGE_URL_LEN,
        pattern=NO_CONTROL,
        description="an http(s) URL or a path on this server, or empty",
    ),
]
Stock = Annotated[int, Meta(ge=0, le=lim.MAX_STOCK)]
if TYPE_CHECKING:
    CommandName = str
else:  # every ``cmd`` of chat.commands' table, in its order
    CommandName = Literal[c.COMMANDS]


Title = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=lim.MAX_ROOM_TITLE_LEN,
        pattern=NO_CONTROL,
        description="trimmed, not empty",
    ),
]
HostName = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=lim.MAX_HOST_NAME_LEN,
        pattern=NO_CONTROL,
        description="trimmed, not empty",
    ),
]


class NewRoom(Struct, kw_only=True):
    """``POST /api/rooms``."""

    title: Title
    host: HostName
    id: RoomId | UnsetType | None = UNSET
    commission_rate: Annotated[float, Meta(ge=0, le=1)] = 0.1


class NewProduct(Struct, kw_only=True):
    """``POST /api/rooms/{room}/products``: the ``add_product`` command."""

    name: ProductName
    price: Price
    currency: Currency
    stock: Stock
    image_url: ImageUrl | UnsetType = UNSET


class ProductChanges(Struct, kw_only=True):
    """``PATCH /api/rooms/{room}/products/{product}``: at least one field."""

    name: ProductName | UnsetType = UNSET
    price: Price | UnsetType = UNSET
    currency: Currency | UnsetType = UNSET
    image_url: ImageUrl | UnsetType = UNSET


class Lineup(Struct, kw_only=True):
    """``PUT /api/rooms/{room}/lineup``: every product once, in show order."""

    lineup: Annotated[list[ProductId], Meta(max_length=lim.MAX_LINEUP)]


class PinBody(Struct, kw_only=True):
    """``POST /api/rooms/{room}/pin``: ``null`` (or no field) unpins."""

    product_id: ProductId | None = None


class AnyCommand(Struct, kw_only=True):
    """``POST /api/rooms/{room}/commands``: a command of docs/protocol.md as JSON; its
    other fields are the command's (checked by the command parser: ``bad_args``)."""

    cmd: CommandName
    id: int | str | None = None


# -- replies ---------------------------------------------------------------------------


class ErrorDetail(Struct):
    """A refusal's code and human-readable message."""

    code: str
    message: str


class Error(Struct):
    """Every refusal of the JSON API: ``code`` from docs/protocol.md or docs/checkout.md."""

    error: ErrorDetail


class CreatedRoom(Struct):
    """``POST /api/rooms``'s reply: the room and its host token (shown only here) and its URLs."""

    room: str
    host_token: str
    viewer_url: str
    studio_url: str
    ws_url: str


class RoomSummary(Struct):
    """One room of ``GET /api/rooms``."""

    id: str
    title: str
    host: str
    status: str
    viewers: int


class Rooms(Struct):
    """``GET /api/rooms``'s reply: live rooms first, then by viewers."""

    rooms: list[RoomSummary]


class RoomState(Struct, forbid_unknown_fields=False):
    """A room's public state (the snapshot a WebSocket client gets, docs/protocol.md)."""

    live: dict[str, Any]


class CommandDone(Struct):
    """A command run through the HTTP API: ``ok`` and the command's reply data."""

    ok: bool
    data: Any


class Health(Struct):
    """``GET /healthz``'s reply: whether this process is up and which node and worker answered."""

    ok: bool
    node: str
    worker: int
    process: str


class StockLevel(Struct):
    """One product's units: initial, available, reserved and sold."""

    initial: int
    available: int
    reserved: int
    sold: int


class Figures(Struct, forbid_unknown_fields=False):
    """``GET .../figures``'s reply: orders, units and revenue, per host, each product's
    stock, and the replay part."""

    orders: int
    units_sold: int
    revenue: dict[str, int]
    hosts: dict[str, Any]
    stock: dict[str, StockLevel]
    replay: dict[str, Any]
    """The part of the totals bought from replays (orders, units_sold, revenue), and
    the replay views."""


class Audit(Struct):
    """``GET .../audit``'s reply: whether the books agree, and the problems found."""

    ok: bool
    problems: list[str]


class Orders(Struct):
    """``GET .../orders.json``'s reply: the show's order records."""

    orders: list[dict[str, Any]]


class ShowEnded(Struct):
    """``POST /api/rooms/{room}/end``'s reply: the orders, their CSV, the figures, the
    webhook status."""

    orders: list[dict[str, Any]]
    csv: str
    figures: dict[str, Any]
    webhook: dict[str, Any] | None


class Fulfilment(Struct):
    """``GET .../fulfilment``'s reply: the webhook delivery status and whether a webhook is
    set."""

    webhook: dict[str, Any] | None
    configured: bool


Metrics = dict[str, Any]
Spec = dict[str, Any]


# -- replay (web.replay_api) ----------------------------------------------------------

ShowId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="a recording id")]


class ReplayShow(Struct):
    """One past (or running) show in ``GET /api/rooms/{room}/shows``."""

    show: str
    started_at: float | None
    ended_at: float | None
    duration: float
    replay: str
    views: int
    hidden: bool


class ReplayShows(Struct):
    """``GET /api/rooms/{room}/shows``'s reply: the room's shows, newest first."""

    room: str
    shows: list[ReplayShow]


class Chapter(Struct):
    """The host explaining one product: media times in seconds of the recording."""

    product_id: str
    n: int
    name: str
    at: float
    end: float
    server_time: float
    clip: str
    hidden: bool


class ReplayDetail(Struct, forbid_unknown_fields=False):
    """``GET /api/rooms/{room}/shows/{show}``'s reply: one show's chapters, segments and state."""

    room: str
    show: str
    started_at: float | None
    ended_at: float | None
    first: float
    duration: float
    playlist: str
    base: str
    inits: dict[str, Any]
    audio: str | None
    segments: list[list[Any]]
    chapters: list[Chapter]
    products: dict[str, Any]
    lineup: list[str]
    views: int
    hidden: bool


class ReplayEvents(Struct, rename={"start": "from", "stop": "to"}):
    """A window of the show's events: ``state`` as it was at ``from``, then the events
    (each with ``at``, its media time) up to ``to``."""

    start: float
    stop: float
    state: dict[str, Any]
    events: list[dict[str, Any]]


class ReplayViews(Struct):
    """``POST .../views``'s reply: the show's replay views so far."""

    views: int


class ReplayVisibility(Struct):
    """What the host hides: the whole replay, and chapters by ``<product>:<n>``."""

    hidden: bool = False
    hidden_chapters: Annotated[
        list[Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,64}:[0-9]{1,6}$")]],
        Meta(max_length=lim.MAX_HIDDEN_CHAPTERS),
    ] = []


class ShowDeleted(Struct):
    """``DELETE /api/rooms/{room}/shows/{show}``'s reply (false: there was nothing to delete)."""

    deleted: bool
