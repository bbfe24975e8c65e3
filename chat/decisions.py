"""The hub's command rules as one pure function: ``decide`` -> ``Decision``.

``decide(state, actor, command, ctx)`` looks at the room as this node holds it and says
what a command does, without doing it: the event to emit, the writes that go with it,
the reply, and the few other things the hub must run (explain counts, banned words,
checkout). A refused command raises ``CommandError`` and the ``Decision`` never exists,
so a refusal changes nothing. One entry of ``RULES`` per command kind; ``authorize``
(host-only commands) is checked first, by the caller. Checkout, auction and giveaway
commands are decided here too (checkout enabled, who may bid, a lot's product in the
lineup) and carried out by the checkout port (``Decision.checkout``).

The hub carries a decision out in a fixed order: checkout stock, then the event (with
its writes, atomically), then the chat limits' record of the message, banned words,
explain requests, hearts. Everything outside (time, a fresh product id, the sender's
chat limits) comes in through ``Context``. Pure: no asyncio, no aiohttp, no redis; the
chat limits are read, never changed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from livecart.chat import commands as c
from livecart.chat import events as ev
from livecart.chat import store
from livecart.chat.actor import Actor
from livecart.chat.chat_rules import ChatLimits, check_banned_words, clean_text
from livecart.chat.errors import CommandError, ErrorCode
from livecart.chat.room_state import RoomState


def new_product_id() -> str:
    return "p" + secrets.token_hex(4)


@dataclass(frozen=True, slots=True)
class Context:
    """What a decision needs from outside the room."""

    now: float  # monotonic seconds: chat limits and slow mode
    wall_ms: float  # milliseconds since the Unix epoch: event ``ts``, ``ping``
    limits: ChatLimits | None = None  # the sender's chat limits; None for the HTTP API
    address_limits: ChatLimits | None = None  # its client address's budget (viewers)
    address_banned: bool = False  # a banned viewer was seen on the sender's address
    checkout: bool = True  # this server runs checkout (its port is configured)
    new_product_id: Callable[[], str] = new_product_id


@dataclass(frozen=True, slots=True)
class Decision:
    """What a command does. Every field but ``reply`` is empty unless the rule sets it."""

    reply: Mapping[str, Any] = field(default_factory=dict)  # the reply's fixed data
    event: ev.RoomEvent | None = None  # emitted with ``writes``, atomically
    writes: tuple[store.Write, ...] = ()
    reply_seq: bool = False  # the reply carries the event's ``seq``
    records_chat: bool = False  # once emitted, the message counts against ``Context.limits``
    init_stock: tuple[str, int] | None = None  # (product, units) for checkout, before the emit
    banned_words: tuple[str, ...] | None = None  # store, and tell every node
    clear_explain: str | None = None  # forget this product's explain requests
    count_explain: str | None = None  # count the actor's request; reply ``requests``
    hearts: int = 0  # taps to add to the room's next tick
    checkout: c.CheckoutCommand | None = None  # run on the checkout port instead
    buyer_token: str | None = None  # verify it; on success the connection buys as its sub


def authorize(actor: Actor, command: c.Command) -> None:
    """Raise ``forbidden`` when a viewer sends a host-only command."""
    if c.is_host_only(command) and not actor.is_host:
        raise CommandError(ErrorCode.FORBIDDEN, "only the host can do that")


def decide(state: RoomState, actor: Actor, command: c.Command, ctx: Context) -> Decision:
    """The decision for ``command`` (``authorize`` it first). Raises ``CommandError``."""
    rule = RULES.get(type(command))
    if rule is None:
        raise CommandError(ErrorCode.BAD_COMMAND, f"{command.NAME} is not handled")
    return rule(state, actor, command, ctx)


def _not_found(what: str) -> CommandError:
    return CommandError(ErrorCode.NOT_FOUND, f"no such {what}")


# -- the rules: one function per command kind ---------------------------------------------


def _chat(state: RoomState, actor: Actor, cmd: c.Chat, ctx: Context) -> Decision:
    if (
        actor.vid in state.banned
        or actor.buyer in state.banned
        or (ctx.address_banned and not actor.is_host)
    ):
        raise CommandError(ErrorCode.BANNED, "you are banned from this room")
    if (actor.vid in state.muted or actor.buyer in state.muted) and not actor.is_host:
        raise CommandError(ErrorCode.MUTED, "the host muted you")
    text = clean_text(cmd.text)
    check_banned_words(text, state.banned_pattern)
    if ctx.limits is not None:
        ctx.limits.check(state.slow_mode, ctx.now, exempt_from_slow_mode=actor.is_host)
    if ctx.address_limits is not None and not actor.is_host:
        ctx.address_limits.check(0, ctx.now, exempt_from_slow_mode=True)
    user = ev.ChatUser(actor.vid, actor.name, actor.role)
    return Decision(
        event=ev.ChatMessage(ts=ctx.wall_ms, user=user, text=text),
        reply_seq=True,
        records_chat=ctx.limits is not None,
    )


def _heart(_state: RoomState, _actor: Actor, cmd: c.Heart, _ctx: Context) -> Decision:
    return Decision(hearts=cmd.n)


def _ping(_state: RoomState, _actor: Actor, _cmd: c.Ping, ctx: Context) -> Decision:
    return Decision(reply={"ts": ctx.wall_ms})


def _explain(state: RoomState, _actor: Actor, cmd: c.Explain, _ctx: Context) -> Decision:
    if cmd.product_id not in state.products:
        raise _not_found("product in the lineup")
    return Decision(count_explain=cmd.product_id)


def _product_decision(product: dict[str, Any], ctx: Context, *writes: store.Write) -> Decision:
    return Decision(
        reply={"product": product},
        event=ev.ProductChanged(ts=ctx.wall_ms, product=product),
        writes=(store.SaveProduct(product), *writes),
    )


def _add_product(state: RoomState, _actor: Actor, cmd: c.AddProduct, ctx: Context) -> Decision:
    pid = ctx.new_product_id()
    product = {
        "id": pid,
        "name": cmd.name,
        "price": cmd.price,
        "currency": cmd.currency,
        "image_url": cmd.image_url,
        "stock": cmd.stock,
    }
    decision = _product_decision(product, ctx, store.SaveLineup((*state.lineup, pid)))
    return replace(decision, init_stock=(pid, cmd.stock))


def _update_product(
    state: RoomState, _actor: Actor, cmd: c.UpdateProduct, ctx: Context
) -> Decision:
    current = state.products.get(cmd.product_id)
    if current is None:
        raise _not_found("product")
    return _product_decision({**current, **dict(cmd.changes)}, ctx)


def _reorder(state: RoomState, _actor: Actor, cmd: c.Reorder, ctx: Context) -> Decision:
    if sorted(cmd.lineup) != sorted(state.lineup):
        raise CommandError(ErrorCode.BAD_ARGS, "lineup: must list every product once")
    return Decision(
        event=ev.LineupChanged(ts=ctx.wall_ms, lineup=cmd.lineup),
        writes=(store.SaveLineup(cmd.lineup),),
    )


def _pin(state: RoomState, _actor: Actor, cmd: c.Pin, ctx: Context) -> Decision:
    pin = cmd.product_id
    if pin is not None and pin not in state.products:
        raise _not_found("product")
    return Decision(
        event=ev.Pinned(ts=ctx.wall_ms, product_id=pin),
        writes=(store.SavePin(pin),),
        clear_explain=pin,
    )


def _dismiss(_state: RoomState, _actor: Actor, cmd: c.Dismiss, _ctx: Context) -> Decision:
    return Decision(clear_explain=cmd.product_id)


def _delete(state: RoomState, _actor: Actor, cmd: c.Delete, ctx: Context) -> Decision:
    if not state.is_message(cmd.message_id):
        raise _not_found("message")
    return Decision(event=ev.ChatDeleted(ts=ctx.wall_ms, id=cmd.message_id))


def _moderate(_state: RoomState, _actor: Actor, cmd: c.Moderate, ctx: Context) -> Decision:
    return Decision(
        event=ev.Moderated(ts=ctx.wall_ms, action=cmd.action, vid=cmd.vid),
        writes=(store.SaveModeration(cmd.action, cmd.vid),),
    )


def _slow_mode(state: RoomState, _actor: Actor, cmd: c.SlowMode, ctx: Context) -> Decision:
    return Decision(
        event=ev.RoomChanged(ts=ctx.wall_ms, room=replace(state.info(), slow_mode=cmd.seconds)),
        writes=(store.SaveRoomField("slow_mode", cmd.seconds),),
    )


def _status(state: RoomState, _actor: Actor, cmd: c.SetStatus, ctx: Context) -> Decision:
    return Decision(
        event=ev.RoomChanged(ts=ctx.wall_ms, room=replace(state.info(), status=cmd.status)),
        writes=(store.SaveRoomField("status", cmd.status),),
    )


def _set_lang(state: RoomState, _actor: Actor, cmd: c.SetLang, ctx: Context) -> Decision:
    return Decision(
        event=ev.RoomChanged(ts=ctx.wall_ms, room=replace(state.info(), lang=cmd.lang)),
        writes=(store.SaveRoomField("lang", cmd.lang),),
    )


def _banned_words(_state: RoomState, _actor: Actor, cmd: c.BannedWords, _ctx: Context) -> Decision:
    return Decision(reply={"words": list(cmd.words)}, banned_words=cmd.words)


def _buyer_auth(_state: RoomState, _actor: Actor, cmd: c.BuyerAuth, _ctx: Context) -> Decision:
    return Decision(buyer_token=cmd.token)


def _checkout(_state: RoomState, _actor: Actor, cmd: c.CheckoutCommand, ctx: Context) -> Decision:
    if not ctx.checkout:
        raise CommandError(ErrorCode.UNAVAILABLE, "checkout is not enabled on this server")
    return Decision(checkout=cmd)


def _bid(state: RoomState, actor: Actor, cmd: c.Bid, ctx: Context) -> Decision:
    decision = _checkout(state, actor, cmd, ctx)
    if actor.is_host:
        raise CommandError(ErrorCode.FORBIDDEN, "the host cannot bid in their own auction")
    if actor.vid in state.banned:
        raise CommandError(ErrorCode.BANNED, "you are banned from this room")
    return decision


def lot_product(state: RoomState, product_id: object) -> Mapping[str, Any]:
    """The lineup's product an auction or a giveaway is for; ``not_found`` otherwise."""
    product = state.products.get(product_id) if isinstance(product_id, str) else None
    if product is None:
        raise CommandError(ErrorCode.NOT_FOUND, "product_id: no such product in the lineup")
    return product


def _start_lot(
    state: RoomState, actor: Actor, cmd: c.StartAuction | c.StartGiveaway, ctx: Context
) -> Decision:
    decision = _checkout(state, actor, cmd, ctx)
    lot_product(state, cmd.product_id)
    return decision


Rule = Callable[[RoomState, Actor, Any, Context], Decision]

RULES: Mapping[type[c.Command], Rule] = {
    c.Chat: _chat,
    c.Heart: _heart,
    c.Ping: _ping,
    c.Explain: _explain,
    c.AddProduct: _add_product,
    c.UpdateProduct: _update_product,
    c.Reorder: _reorder,
    c.Pin: _pin,
    c.Dismiss: _dismiss,
    c.Delete: _delete,
    c.Moderate: _moderate,
    c.SlowMode: _slow_mode,
    c.SetStatus: _status,
    c.SetLang: _set_lang,
    c.BannedWords: _banned_words,
    c.BuyerAuth: _buyer_auth,
    c.CheckoutCommand: _checkout,  # the base: what every checkout command's rule starts with
    c.Buy: _checkout,
    c.Pay: _checkout,
    c.OpenSale: _checkout,
    c.CloseSale: _checkout,
    c.StartAuction: _start_lot,
    c.CancelAuction: _checkout,
    c.Bid: _bid,
    c.StartGiveaway: _start_lot,
}
