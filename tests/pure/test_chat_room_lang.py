"""The room's default page language: the ``set_lang`` host command and the ``lang`` field
of the room record (docs/protocol.md)."""

from __future__ import annotations

import pytest

from livecart.chat import commands as c
from livecart.chat import events as ev
from livecart.chat.actor import Actor
from livecart.chat.decisions import Context, authorize, decide
from livecart.chat.errors import CommandError
from livecart.chat.room_state import RoomState
from livecart.chat.store import SaveRoomField

HOST = Actor.host("r1", "Mia")
VIEWER = Actor("vviewer01", "Ann", "viewer")


def room() -> RoomState:
    return RoomState("r1", "e1", title="Show", host="Mia")


def ctx() -> Context:
    return Context(now=100.0, wall_ms=1_000, limits=None, new_product_id=lambda: "p1")


@pytest.mark.parametrize("lang", ["zh-CN", "en", "zh-Hans-CN", ""])
def test_set_lang_parses_language_tags(lang: str) -> None:
    assert c.parse_command({"cmd": "set_lang", "lang": lang}) == c.SetLang(lang)


@pytest.mark.parametrize(
    "lang", [None, 5, "x", "english!", "zh_CN", "a" * 21, "zh-CN-x-private-tags", "<b>"]
)
def test_set_lang_refuses_anything_else(lang: object) -> None:
    with pytest.raises(CommandError) as info:
        c.parse_command({"cmd": "set_lang", "lang": lang})
    assert info.value.code == "bad_args"


def test_set_lang_is_for_the_host_only() -> None:
    assert c.is_host_only(c.SetLang("zh-CN"))
    with pytest.raises(CommandError) as info:
        authorize(VIEWER, c.SetLang("zh-CN"))
    assert info.value.code == "forbidden"


def test_set_lang_changes_one_field_and_the_room_applies_it() -> None:
    state = room()
    authorize(HOST, c.SetLang("zh-CN"))
    decision = decide(state, HOST, c.SetLang("zh-CN"), ctx())
    assert decision.writes == (SaveRoomField("lang", "zh-CN"),)
    assert decision.event == ev.RoomChanged(
        ts=1_000, room=ev.RoomInfo("r1", "Show", "Mia", "scheduled", 0, "zh-CN")
    )
    assert state.lang == ""  # deciding changes nothing
    state.apply(ev.RoomChanged(seq=1, ts=1.0, room=decision.event.room))
    assert state.lang == "zh-CN" and state.info().lang == "zh-CN"
    assert state.info().to_wire()["lang"] == "zh-CN"


def test_room_events_stored_before_lang_existed_read_as_no_language() -> None:
    old = {
        "seq": 4,
        "ts": 1.0,
        "type": "room",
        "room": {"id": "r1", "title": "Show", "host": "Mia", "status": "live", "slow_mode": 0},
    }
    event = ev.event_from_wire(old)
    assert isinstance(event, ev.RoomChanged) and event.room.lang == ""
