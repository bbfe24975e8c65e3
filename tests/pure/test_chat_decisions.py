"""Pure tests of the chat rules (``decide``) and the room events: no loop, no node, no Redis."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from livecart.chat import commands as c
from livecart.chat import events as ev
from livecart.chat.actor import Actor
from livecart.chat.chat_rules import ChatLimits, TokenBucket
from livecart.chat.decisions import RULES, Context, Decision, authorize, decide
from livecart.chat.errors import CommandError
from livecart.chat.room_state import RoomState
from livecart.chat.store import SaveLineup, SaveModeration, SavePin, SaveProduct, SaveRoomField

HOST = Actor.host("r1", "Mia")
VIEWER = Actor("vviewer01", "Ann", "viewer")
NOW = 1000.0
WALL = 1763760001234.5
SCARF = {"id": "p1", "name": "Scarf", "price": 100, "currency": "CNY", "image_url": "", "stock": 3}


def room() -> RoomState:
    state = RoomState("r1", "e1", title="Show", host="Mia")
    state.apply(ev.ProductChanged(seq=1, ts=1.0, product=dict(SCARF)))
    state.apply(
        ev.ChatMessage(seq=2, ts=2.0, user=ev.ChatUser("vviewer01", "Ann", "viewer"), text="hi")
    )
    return state


def ctx(limits: ChatLimits | None = None, new_id: str = "pnew0001") -> Context:
    return Context(now=NOW, wall_ms=WALL, limits=limits, new_product_id=lambda: new_id)


def run(
    command: c.Command, actor: Actor = HOST, state: RoomState | None = None, **kw: Any
) -> Decision:
    state = state or room()
    before = copy.deepcopy(state)
    authorize(actor, command)
    decision = decide(state, actor, command, ctx(**kw))
    assert state == before  # deciding never changes the room
    return decision


def refused(
    command: c.Command, actor: Actor = HOST, state: RoomState | None = None, **kw: Any
) -> CommandError:
    with pytest.raises(CommandError) as info:
        run(command, actor, state, **kw)
    return info.value


def test_every_command_kind_has_one_rule() -> None:
    kinds = {
        cls for cls in vars(c).values() if isinstance(cls, type) and issubclass(cls, c.Command)
    }
    assert set(RULES) == kinds - {c.Command}


HOST_ONLY = [
    c.AddProduct("A", 1, "CNY", "", 1),
    c.UpdateProduct("p1", (("name", "B"),)),
    c.Reorder(("p1",)),
    c.Pin("p1"),
    c.Dismiss("p1"),
    c.Delete(2),
    c.Moderate("ban", "vother001"),
    c.SlowMode(5),
    c.BannedWords(("scam",)),
    c.SetStatus("live"),
    c.OpenSale(),
    c.CloseSale(),
]


@pytest.mark.parametrize("command", HOST_ONLY, ids=lambda cmd: type(cmd).__name__)
def test_viewers_are_refused_host_commands(command: c.Command) -> None:
    assert refused(command, VIEWER).code == "forbidden"
    authorize(HOST, command)  # the host may


def test_viewers_may_buy_and_pay() -> None:
    for name in ("buy", "pay"):
        command = c.parse_command({"cmd": name, "product_id": "p1"})
        assert run(command, VIEWER) == Decision(checkout=command)


# -- chat --------------------------------------------------------------------------------


def test_chat_becomes_a_trimmed_message_from_the_actor() -> None:
    limits = ChatLimits()
    decision = run(c.Chat("  hello  "), VIEWER, limits=limits)
    assert decision.event == ev.ChatMessage(
        ts=WALL, user=ev.ChatUser("vviewer01", "Ann", "viewer"), text="hello"
    )
    assert decision.reply_seq and decision.records_chat and not decision.writes
    assert limits == ChatLimits()  # only recorded once the message is committed


def test_chat_over_http_has_no_limits_to_record() -> None:
    decision = run(c.Chat("hi"), HOST)
    assert decision.reply_seq and not decision.records_chat


@pytest.mark.parametrize(
    ("text", "code"),
    [("   ", "text_empty"), ("x" * 281, "text_too_long"), ("a\nb", "text_invalid")],
)
def test_chat_text_is_checked(text: str, code: str) -> None:
    assert refused(c.Chat(text), VIEWER).code == code


def test_banned_words_block_a_message() -> None:
    state = room()
    state.set_banned_words(["scam"])
    assert refused(c.Chat("what a SCAM"), VIEWER, state).code == "blocked_word"
    assert run(c.Chat("scampi"), VIEWER, state).event is not None


def test_muted_viewer_is_refused_but_a_muted_host_is_not() -> None:
    state = room()
    state.muted = {VIEWER.vid, HOST.vid}
    assert refused(c.Chat("hi"), VIEWER, state).code == "muted"
    assert run(c.Chat("hi"), HOST, state).event is not None


def test_banned_actor_is_refused_before_anything_else() -> None:
    state = room()
    state.banned = {VIEWER.vid}
    state.muted = {VIEWER.vid}
    assert refused(c.Chat(""), VIEWER, state).code == "banned"


def test_slow_mode_applies_to_viewers_not_to_the_host() -> None:
    state = room()
    state.slow_mode = 30
    spoke = ChatLimits(last_sent=NOW - 10)
    error = refused(c.Chat("again"), VIEWER, state, limits=spoke)
    assert error.code == "slow_mode" and error.retry_after == pytest.approx(20)
    assert run(c.Chat("again"), HOST, state, limits=ChatLimits(last_sent=NOW - 10)).event
    assert run(c.Chat("later"), VIEWER, state, limits=ChatLimits(last_sent=NOW - 31)).event


def test_message_rate_limit_reads_the_bucket_without_spending() -> None:
    empty = ChatLimits(TokenBucket(rate=1, burst=3, tokens=0.5, stamp=NOW))
    error = refused(c.Chat("hi"), VIEWER, limits=empty)
    assert error.code == "rate_limited" and error.retry_after == pytest.approx(0.5)
    assert empty.bucket.tokens == 0.5 and empty.bucket.stamp == NOW


def test_chat_limits_record_spends_one_token_and_stamps_the_time() -> None:
    limits = ChatLimits()
    limits.record(NOW)
    assert limits.last_sent == NOW and limits.bucket.level(NOW) == 2


# -- small commands ----------------------------------------------------------------------


def test_heart_ping_and_dismiss_touch_no_event() -> None:
    assert run(c.Heart(7), VIEWER) == Decision(hearts=7)
    assert run(c.Ping(), VIEWER) == Decision(reply={"ts": WALL})
    assert run(c.Dismiss("p1")) == Decision(clear_explain="p1")


def test_explain_needs_a_product_of_the_lineup() -> None:
    assert refused(c.Explain("p9"), VIEWER).code == "not_found"
    assert run(c.Explain("p1"), VIEWER) == Decision(count_explain="p1")


def test_banned_words_are_stored_and_echoed() -> None:
    decision = run(c.BannedWords(("scam", "fake")))
    assert decision == Decision(reply={"words": ["scam", "fake"]}, banned_words=("scam", "fake"))


# -- products and lineup -----------------------------------------------------------------


def test_add_product_mints_an_id_and_appends_it_to_the_lineup() -> None:
    decision = run(c.AddProduct("Bag", 590, "CNY", "/img/bag.png", 12), new_id="pbag0001")
    product = {
        "id": "pbag0001",
        "name": "Bag",
        "price": 590,
        "currency": "CNY",
        "image_url": "/img/bag.png",
        "stock": 12,
    }
    assert list(decision.reply["product"]) == list(product)  # wire order
    assert decision.reply == {"product": product}
    assert decision.event == ev.ProductChanged(ts=WALL, product=product)
    assert decision.writes == (SaveProduct(product), SaveLineup(("p1", "pbag0001")))
    assert decision.init_stock == ("pbag0001", 12)


def test_update_product_merges_changes_and_keeps_the_lineup() -> None:
    assert refused(c.UpdateProduct("p9", (("name", "B"),))).code == "not_found"
    decision = run(c.UpdateProduct("p1", (("name", "Silk scarf"), ("price", 90))))
    product = {**SCARF, "name": "Silk scarf", "price": 90}
    assert decision.reply == {"product": product}
    assert decision.writes == (SaveProduct(product),) and decision.init_stock is None


def test_reorder_must_list_every_product_once() -> None:
    state = room()
    state.apply(ev.ProductChanged(seq=3, product={**SCARF, "id": "p2"}))
    assert refused(c.Reorder(("p1",)), state=state).code == "bad_args"
    assert refused(c.Reorder(("p1", "p3")), state=state).code == "bad_args"
    decision = run(c.Reorder(("p2", "p1")), state=state)
    assert decision.event == ev.LineupChanged(ts=WALL, lineup=("p2", "p1"))
    assert decision.writes == (SaveLineup(("p2", "p1")),)


def test_pin_a_known_product_clears_its_explain_requests_and_unpin_clears_none() -> None:
    assert refused(c.Pin("p9")).code == "not_found"
    pinned = run(c.Pin("p1"))
    assert pinned.event == ev.Pinned(ts=WALL, product_id="p1")
    assert pinned.writes == (SavePin("p1"),) and pinned.clear_explain == "p1"
    unpinned = run(c.Pin(None))
    assert unpinned.event == ev.Pinned(ts=WALL, product_id=None)
    assert unpinned.writes == (SavePin(None),) and unpinned.clear_explain is None


# -- moderation and room settings ---------------------------------------------------------


def test_delete_needs_a_chat_message_of_the_history() -> None:
    assert refused(c.Delete(9)).code == "not_found"
    assert refused(c.Delete(1)).code == "not_found"  # seq 1 is the product, not a message
    assert run(c.Delete(2)).event == ev.ChatDeleted(ts=WALL, id=2)


@pytest.mark.parametrize(
    ("action", "muted", "banned"),
    [("mute", {"v1"}, set()), ("unmute", set(), {"v1"}),
     ("ban", set(), {"v1"}), ("unban", {"v1"}, set())],
)  # fmt: skip
def test_moderation_event_and_write_change_the_right_set(
    action: str, muted: set[str], banned: set[str]
) -> None:
    state = room()
    before = {"v1"} if action.startswith("un") else set()
    state.muted, state.banned = set(before), set(before)
    decision = run(c.Moderate(action, "v1"), state=state)
    assert decision.event == ev.Moderated(ts=WALL, action=action, vid="v1")
    assert decision.writes == (SaveModeration(action, "v1"),)
    state.apply(ev.Moderated(seq=3, action=action, vid="v1"))
    assert (state.muted, state.banned) == (muted, banned)


def test_slow_mode_and_status_change_one_field_of_the_room() -> None:
    info = ev.RoomInfo("r1", "Show", "Mia", "scheduled", 0)
    slow = run(c.SlowMode(15))
    assert slow.event == ev.RoomChanged(
        ts=WALL, room=ev.RoomInfo("r1", "Show", "Mia", "scheduled", 15)
    )
    assert slow.writes == (SaveRoomField("slow_mode", 15),)
    live = run(c.SetStatus("live"))
    assert live.event == ev.RoomChanged(ts=WALL, room=ev.RoomInfo("r1", "Show", "Mia", "live", 0))
    assert live.writes == (SaveRoomField("status", "live"),)
    assert room().info() == info


# -- events on the wire --------------------------------------------------------------------

USER = ev.ChatUser("v1", "A", "viewer")
WIRE = [
    (
        ev.ChatMessage(seq=7, ts=1.5, user=USER, text="hi"),
        '{"seq":7,"ts":1.5,"type":"chat","user":{"vid":"v1","name":"A","role":"viewer"},'
        '"text":"hi","id":7}',
    ),
    (ev.ChatDeleted(seq=7, ts=1.5, id=3), '{"seq":7,"ts":1.5,"type":"chat_deleted","id":3}'),
    (
        ev.RoomChanged(seq=7, ts=1.5, room=ev.RoomInfo("r", "T", "Mia", "live", 5)),
        '{"seq":7,"ts":1.5,"type":"room","room":{"id":"r","title":"T","host":"Mia",'
        '"status":"live","slow_mode":5,"lang":""}}',
    ),
    (
        ev.ProductChanged(seq=7, ts=1.5, product={"id": "p1", "name": "A"}),
        '{"seq":7,"ts":1.5,"type":"product","product":{"id":"p1","name":"A"}}',
    ),
    (
        ev.LineupChanged(seq=7, ts=1.5, lineup=("p2", "p1")),
        '{"seq":7,"ts":1.5,"type":"lineup","lineup":["p2","p1"]}',
    ),
    (
        ev.Pinned(seq=7, ts=1.5, product_id=None),
        '{"seq":7,"ts":1.5,"type":"pin","product_id":null}',
    ),
    (
        ev.Moderated(seq=7, ts=1.5, action="ban", vid="v2"),
        '{"seq":7,"ts":1.5,"type":"moderation","action":"ban","vid":"v2"}',
    ),
    (
        ev.SaleChanged(seq=7, ts=1.5, product_id="p1", sale=None),
        '{"seq":7,"ts":1.5,"type":"sale","product_id":"p1","sale":null}',
    ),
]


def dump(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


@pytest.mark.parametrize(("event", "wire"), WIRE, ids=lambda x: getattr(x, "TYPE", ""))
def test_events_keep_the_documented_wire_shape(event: ev.RoomEvent, wire: str) -> None:
    assert dump(event.to_wire()) == wire
    assert ev.event_from_wire(json.loads(wire)) == event
    record = event.to_record()  # what the store keeps: no seq (it puts it first), no chat id
    assert "seq" not in record and list(record)[:2] == ["ts", "type"]
    assert ev.event_from_wire({"seq": 7, **record}).to_wire() == event.to_wire()


def test_unknown_or_malformed_events_are_value_errors() -> None:
    with pytest.raises(ValueError):
        ev.event_from_wire({"seq": 1, "type": "launch"})
    with pytest.raises(ValueError):
        ev.event_from_wire({"seq": 1, "type": "chat", "text": "no user"})
    with pytest.raises(ValueError):
        ev.Moderated(action="smite", vid="v1")


def test_apply_returns_a_new_wire_dict_and_leaves_the_event_alone() -> None:
    state = RoomState("r", "e")
    event = ev.ChatMessage(seq=1, ts=1.5, user=USER, text="hi")
    wire = state.apply(event)
    assert wire == event.to_wire() and wire is state.history[-1] and wire is state.chat[-1]
    assert event == ev.ChatMessage(seq=1, ts=1.5, user=USER, text="hi")
    state.apply(ev.SaleChanged(seq=2, product_id="p1", sale={"state": "open"}))
    assert state.sales == {"p1": {"state": "open"}}
    state.apply(ev.SaleChanged(seq=3, product_id="p1", sale=None))
    assert state.sales == {}
