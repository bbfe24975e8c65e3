"""Pure tests of the hub's core: no event loop, no sockets, no Redis."""

from __future__ import annotations

import contextlib
import json
import struct
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecart.chat import commands as c
from livecart.chat import identity
from livecart.chat.chat_rules import (
    TokenBucket,
    check_banned_words,
    check_slow_mode,
    clean_text,
    compile_banned_words,
)
from livecart.chat.codec import WireFormat, decode, encode_frame
from livecart.chat.errors import CommandError, ProtocolError, SequenceGap
from livecart.chat.events import (
    AuctionChanged,
    ChatDeleted,
    ChatMessage,
    ChatUser,
    Moderated,
    Pinned,
    ProductChanged,
)
from livecart.chat.room import MAX_CHUNK, MIN_CHUNK, Room, chunk_size, tick_interval
from livecart.chat.room_state import RoomState
from livecart.wsframe import close_frame


def code_of(fn: Any, *args: Any) -> str:
    with pytest.raises(CommandError) as info:
        fn(*args)
    return info.value.code


# -- room state --------------------------------------------------------------------------


def chat(seq: int, text: str = "hi") -> ChatMessage:
    return ChatMessage(seq=seq, ts=1.0, user=ChatUser("v1", "A", "viewer"), text=text)


def test_room_state_applies_in_order_ignores_duplicates_and_detects_gaps() -> None:
    state = RoomState("r", "e1")
    assert state.apply(chat(1))
    assert state.apply(chat(1)) is None  # duplicate
    with pytest.raises(SequenceGap):
        state.apply(chat(3))
    assert state.seq == 1 and len(state.chat) == 1
    state.apply(ProductChanged(seq=2, product={"id": "p1", "name": "A"}))
    state.apply(Pinned(seq=3, product_id="p1"))
    state.apply(Moderated(seq=4, action="mute", vid="v9"))
    state.apply(ChatDeleted(seq=5, id=1))
    assert state.lineup == ["p1"] and state.pinned == "p1" and state.muted == {"v9"}
    assert list(state.chat) == []
    state.apply(Moderated(seq=6, action="unmute", vid="v9"))
    assert state.muted == set()


def test_room_state_keeps_last_50_chat_and_answers_resume_exactly() -> None:
    state = RoomState("r", "e1")
    for seq in range(1, 1101):
        state.apply(chat(seq, str(seq)))
    assert next(m["text"] for m in state.chat) == "1051" and len(state.chat) == 50
    assert [e["seq"] for e in state.events_since(1090) or []] == list(range(1091, 1101))
    assert state.events_since(1100) == []
    assert state.events_since(50) is None  # beyond the 1,000 kept: no silent gap
    assert state.events_since(2000) is None


def test_restore_history_rebuilds_recent_chat_with_deletions() -> None:
    state = RoomState("r", "e1")
    records = [
        {"seq": 1, **chat(1, "a").to_record()},
        {"seq": 2, **chat(2, "b").to_record()},
        {"seq": 3, "ts": 1.0, "type": "chat_deleted", "id": 1},
    ]
    state.seq = 3
    state.restore_history(records)
    assert [m["text"] for m in state.chat] == ["b"]
    assert state.events_since(1) == [chat(2, "b").to_wire(), records[2]]


# -- chat rules --------------------------------------------------------------------------


def test_clean_text_limits() -> None:
    assert clean_text("  hi  ") == "hi"
    assert clean_text("x" * 280) == "x" * 280
    assert code_of(clean_text, "x" * 281) == "text_too_long"
    assert code_of(clean_text, " \t ") == "text_empty"
    assert code_of(clean_text, "a\nb") == "text_invalid"
    assert code_of(clean_text, "a\x00b") == "text_invalid"
    assert clean_text("emoji 🛍 ok") == "emoji 🛍 ok"


def test_banned_words_match_whole_words_case_insensitively() -> None:
    pattern = compile_banned_words(["scam", "fake news"])
    assert code_of(check_banned_words, "what a SCAM", pattern) == "blocked_word"
    assert code_of(check_banned_words, "Fake News!", pattern) == "blocked_word"
    check_banned_words("scampi", pattern)
    check_banned_words("anything", compile_banned_words([]))


def test_token_bucket_burst_then_rate() -> None:
    bucket = TokenBucket(rate=1, burst=3)
    for _ in range(3):
        bucket.spend(100.0)
    with pytest.raises(CommandError) as info:
        bucket.spend(100.0)
    assert info.value.code == "rate_limited" and info.value.retry_after == pytest.approx(1.0)
    bucket.spend(101.0)
    with pytest.raises(CommandError):
        bucket.spend(101.5)
    bucket.check(102.0)  # check does not spend
    bucket.spend(102.0)


def test_slow_mode() -> None:
    check_slow_mode(0, 99.0, 100.0)
    check_slow_mode(10, None, 100.0)
    check_slow_mode(10, 90.0, 100.0)
    with pytest.raises(CommandError) as info:
        check_slow_mode(10, 95.0, 100.0)
    assert info.value.code == "slow_mode" and info.value.retry_after == pytest.approx(5.0)


# -- commands ----------------------------------------------------------------------------


def test_parse_commands_and_errors() -> None:
    assert c.parse_command({"cmd": "chat", "text": "x"}) == c.Chat("x")
    assert c.parse_command({"cmd": "heart"}) == c.Heart(1)
    assert c.parse_command({"cmd": "pin", "product_id": None}) == c.Pin(None)
    assert c.is_host_only(c.parse_command({"cmd": "ban", "vid": "vabcdefgh"}))
    assert not c.is_host_only(c.parse_command({"cmd": "buy", "product_id": "p1"}))
    assert c.is_host_only(c.parse_command({"cmd": "open_sale", "product_id": "p1"}))
    assert code_of(c.parse_command, {"cmd": 3}) == "bad_command"
    assert code_of(c.parse_command, {"cmd": "nope"}) == "bad_command"
    assert code_of(c.parse_command, {"cmd": "heart", "n": True}) == "bad_args"
    assert code_of(c.parse_command, {"cmd": "heart", "n": 51}) == "bad_args"
    assert code_of(c.parse_command, {"cmd": "reorder", "lineup": ["a", "a"]}) == "bad_args"
    assert code_of(c.parse_command, {"cmd": "slow_mode", "seconds": -1}) == "bad_args"
    assert code_of(c.parse_command, {"cmd": "status", "status": "paused"}) == "bad_args"
    bad_url = {
        "cmd": "add_product",
        "name": "A",
        "price": 1,
        "currency": "CNY",
        "stock": 1,
        "image_url": "javascript:alert(1)",
    }
    assert code_of(c.parse_command, bad_url) == "bad_args"
    assert code_of(c.parse_command, {**bad_url, "image_url": "", "currency": "cny"}) == "bad_args"
    assert c.command_id({"id": 7}) == 7 and c.command_id({"id": True}) is None
    assert c.command_id({"id": "x" * 65}) is None


# -- codec and frames --------------------------------------------------------------------


def parse_frame(frame: bytes) -> tuple[int, bytes]:
    opcode, n = frame[0] & 0x0F, frame[1] & 0x7F
    assert frame[0] & 0x80 and not frame[1] & 0x80  # FIN, unmasked
    offset = 2
    if n == 126:
        (n,) = struct.unpack("!H", frame[2:4])
        offset = 4
    elif n == 127:
        (n,) = struct.unpack("!Q", frame[2:10])
        offset = 10
    assert len(frame) == offset + n
    return opcode, frame[offset:]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_frames_roundtrip_every_length_class(size: int) -> None:
    obj = {"t": "batch", "pad": "x" * size}
    op, payload = parse_frame(encode_frame(WireFormat.JSON, obj))
    assert op == 1 and json.loads(payload) == obj
    op, payload = parse_frame(encode_frame(WireFormat.MSGPACK, obj))
    assert op == 2 and msgpack.unpackb(payload) == obj


def test_close_frame() -> None:
    op, payload = parse_frame(close_frame(4008, "slow consumer"))
    assert op == 8 and struct.unpack("!H", payload[:2])[0] == 4008
    assert len(close_frame(1000, "x" * 500)) <= 127


def test_decode_rejects_non_objects_and_wrong_frame_types() -> None:
    assert decode(WireFormat.JSON, '{"cmd": "ping"}') == {"cmd": "ping"}
    assert decode(WireFormat.MSGPACK, msgpack.packb({"cmd": "ping"})) == {"cmd": "ping"}
    for fmt, data in [
        (WireFormat.JSON, "[]"),
        (WireFormat.JSON, b"{}"),
        (WireFormat.MSGPACK, "{}"),
        (WireFormat.MSGPACK, msgpack.packb([1])),
        (WireFormat.JSON, "[" * 100_000),
    ]:
        with pytest.raises(ProtocolError):
            decode(fmt, data)


@given(st.binary(max_size=300))
def test_msgpack_decoder_fuzz_only_raises_protocol_error(data: bytes) -> None:
    try:
        obj = decode(WireFormat.MSGPACK, data)
    except ProtocolError:
        return
    with contextlib.suppress(CommandError):
        c.parse_command(obj)


@given(st.text(max_size=300))
def test_json_decoder_fuzz_only_raises_protocol_error(data: str) -> None:
    try:
        obj = decode(WireFormat.JSON, data)
    except ProtocolError:
        return
    with contextlib.suppress(CommandError):
        c.parse_command(obj)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(
    st.sampled_from(
        [
            "chat",
            "heart",
            "explain",
            "add_product",
            "update_product",
            "reorder",
            "pin",
            "dismiss",
            "delete",
            "mute",
            "slow_mode",
            "banned_words",
            "status",
            "buy",
        ]
    ),
    st.dictionaries(
        st.sampled_from(
            [
                "text",
                "n",
                "product_id",
                "name",
                "price",
                "currency",
                "stock",
                "image_url",
                "lineup",
                "message_id",
                "vid",
                "seconds",
                "words",
                "status",
            ]
        ),
        json_values,
        max_size=6,
    ),
)
def test_command_parser_fuzz_only_raises_command_error(cmd: str, args: dict[str, Any]) -> None:
    with contextlib.suppress(CommandError):
        c.parse_command({"cmd": cmd, **args})


# -- identity and ticks --------------------------------------------------------------------


def test_viewer_tokens_verify_only_when_genuine() -> None:
    vid, token = identity.issue(b"secret")
    assert identity.verify(b"secret", token) == vid
    assert identity.verify(b"other", token) is None
    assert identity.verify(b"secret", token[:-1] + "0") in (None, vid if token[-1] == "0" else None)
    assert identity.verify(b"secret", "vabc.def.ghi") is None
    assert identity.verify(b"secret", None) is None


def lot(version: int, price: int, aid: str = "a_1") -> dict[str, Any]:
    return {"id": aid, "state": "running", "price": price, "bids": version - 1,
            "version": version}  # fmt: skip


def test_an_auction_event_older_than_the_rooms_auction_changes_nothing() -> None:
    """Events of bids taken on two workers can reach the room in the other order than
    Redis decided them: the room keeps the higher version, its price never goes back."""
    state = RoomState("r", "e1")
    state.apply(AuctionChanged(seq=1, auction=lot(3, 700)))
    assert state.apply(AuctionChanged(seq=2, auction=lot(2, 600))) is not None  # sequenced
    assert state.auction is not None and state.auction["price"] == 700
    state.apply(AuctionChanged(seq=3, auction=lot(4, 800)))
    assert state.auction["price"] == 800
    state.apply(AuctionChanged(seq=4, auction=lot(1, 500, aid="a_2")))  # the next auction
    assert state.auction["id"] == "a_2"
    # objects without a version (an older server's history) are taken in seq order
    state.apply(AuctionChanged(seq=5, auction={"id": "a_2", "price": 900}))
    state.apply(AuctionChanged(seq=6, auction={"id": "a_2", "price": 400}))
    assert state.auction["price"] == 400


def test_a_conflated_batch_keeps_the_newest_auction_not_the_last_arrived() -> None:
    events = [
        {"seq": 1, "type": "auction", "auction": lot(5, 900)},
        {"seq": 2, "type": "chat", "text": "hi"},
        {"seq": 3, "type": "auction", "auction": lot(4, 800)},  # overtaken on its way
    ]
    batch = Room._conflated(events, {}, 1)
    assert [e["seq"] for e in batch["events"]] == [1, 2] and batch["skipped"] == 1
    frame = Room._lean_frame(WireFormat.MSGPACK, events, {}, 2)
    lean = msgpack.unpackb(frame[4 if frame[1] & 0x7F == 126 else 2 :])
    assert [e["seq"] for e in lean["events"]] == [1]
    in_order = [events[2], {**events[0], "seq": 4}]
    assert [e["seq"] for e in Room._conflated(in_order, {}, 1)["events"]] == [4]


def test_a_fanout_chunk_is_about_two_ms_of_writing_within_bounds() -> None:
    assert chunk_size(12.5e-6) == 160
    assert chunk_size(20e-6) == 100
    assert chunk_size(1e-9) == MAX_CHUNK  # writes that cost nothing: still bounded
    assert chunk_size(1.0) == MIN_CHUNK  # a very slow write still moves on
    assert chunk_size(0.0) == MAX_CHUNK


def test_tick_interval_grows_with_room_size_within_bounds() -> None:
    assert tick_interval(10) == 0.05
    assert tick_interval(6000) == pytest.approx(0.125)
    assert tick_interval(100_000) == 0.2
    # From the measured cost of a write: cheap writes tick faster, dear ones slower.
    assert tick_interval(6000, write_cost=8e-6) == pytest.approx(0.08)
    assert tick_interval(6000, write_cost=16e-6) == pytest.approx(0.16)
    assert tick_interval(5000, write_cost=1e-6) == 0.05
