"""The text rules (livecart.text), the CSV cells of the exports, the webhook signature,
and the tombstone a deleted message leaves: pure, no sockets."""

from __future__ import annotations

import csv
import io
import json
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from livecart.chat.codec import WireFormat, decode
from livecart.chat.errors import ProtocolError
from livecart.chat.events import ChatDeleted, ChatMessage, ChatUser, same_event
from livecart.chat.room_state import RoomState
from livecart.chat.staleness import Verdict, judge_repeat, judge_tail
from livecart.checkout import webhook_signature as ws
from livecart.checkout.fulfilment import build_batches, verify_signature
from livecart.checkout.orders import csv_cell, orders_csv
from livecart.display_names import clean_display_name, is_display_name
from livecart.limits import MAX_DISPLAY_NAME, MAX_MARKS
from livecart.text import (
    TextRefused,
    banned_word_pattern,
    contains_banned_word,
    normalize,
    skeleton,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("ｆｕｌｌｗｉｄｔｈ", "fullwidth"),
        ("a\u200bb\u200cc\u2060d\ufeffe", "abcde"),
        ("soft\u00adhyphen", "softhyphen"),
        ("\u202eevil\u202c \u2066iso\u2069 \u200e\u200f\u061c", "evil iso "),
        ("line\u2028next\u2029", "line next "),
        ("👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧"),  # an emoji family keeps its joiners
        ("a\u200db", "ab"),
        ("日本語のテキスト", "日本語のテキスト"),
        ("ﬁ", "fi"),
        ("plain ascii", "plain ascii"),
    ],
)
def test_normalize(raw: str, clean: str) -> None:
    assert normalize(raw) == clean


def test_combining_marks_are_bounded() -> None:
    zalgo = "e" + "\u0301\u0302\u0303\u0304\u0305" * 40 + "x"
    out = normalize(zalgo)
    assert out == "\u00e9\u0302\u0303\u0304x" and MAX_MARKS == 3  # é composed by NFKC


@pytest.mark.parametrize("bad", ["\ud800", "a\udfffb", "\udbff\udc00"])
def test_lone_surrogates_are_refused(bad: str) -> None:
    with pytest.raises(TextRefused):
        normalize(bad)
    assert not is_display_name(bad)
    assert clean_display_name(bad) in ("guest", "ab")


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_normalize_is_idempotent_and_never_fails_on_valid_text(text: str) -> None:
    try:
        once = normalize(text)
    except TextRefused:
        assert any(unicodedata.category(c) == "Cs" for c in text)
        return
    assert normalize(once) == once
    assert not any(unicodedata.category(c) == "Cf" and c != "\u200d" for c in once)
    name = clean_display_name(text)
    assert is_display_name(name) and len(name) <= MAX_DISPLAY_NAME


def test_banned_words_see_through_disguises_but_keep_words_whole() -> None:
    pattern = banned_word_pattern(["Scam", "сука", "詐欺", "\ud800", "", "\u200b"])
    for text in ("s\u200bcam", "ѕсаm", "ＳＣＡＭ", "s\u0336c\u0336a\u0336m", "Śćàm", "cyka",
                 "сука!", "это詐欺です", "σcam"[1:] and "ѕcam"):  # fmt: skip
        assert contains_banned_word(text, pattern), text
    for text in ("scampi", "mascam", "hello", "詐", "\ud800"):
        assert not contains_banned_word(text, pattern), text
    assert banned_word_pattern(["\ud800", "  "]) is None
    assert skeleton("がぎ") == "がぎ"  # kana keep their voicing marks


def test_json_frames_with_lone_surrogates_are_bad_frames() -> None:
    for frame in ('{"t": "\\ud800"}', '{"\\udc00": 1}', '{"a": [[{"b": "\\uDBFF"}]]}'):
        with pytest.raises(ProtocolError, match="lone surrogate"):
            decode(WireFormat.JSON, frame)
    assert decode(WireFormat.JSON, '{"t": "\\ud83d\\ude00"}') == {"t": "😀"}
    with pytest.raises(ProtocolError):
        decode(WireFormat.MSGPACK, b"\x81\xa1t\xa3\xed\xa0\x80")


FORMULAS = ['=HYPERLINK("http://x.example","y")', "+cmd|' /C calc'!A0", "-1+1", "@SUM(1)",
            "\tname", "\rname", "=1+1"]  # fmt: skip


def test_csv_cells_never_start_a_formula() -> None:
    for value in FORMULAS:
        assert csv_cell(value) == "'" + value
    assert csv_cell("Alice") == "Alice" and csv_cell(-5) == -5 and csv_cell("") == ""
    records = [{"id": "o1", "buyer_name": v, "product_id": "-p", "qty": 1} for v in FORMULAS]
    for text in (orders_csv(records), json.loads(build_batches("r", records)[0])["csv"]):
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [r["buyer_name"] for r in rows] == ["'" + v for v in FORMULAS]
        assert all(r["product_id"] == "'-p" and r["qty"] == "1" for r in rows)


def test_webhook_signature_verifies_with_the_standard_webhooks_library() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    key = ws.signing_key(secret)
    body = build_batches("r", [{"id": "o1", "buyer_name": "=x"}])[0]
    now = 1_763_760_000
    headers = ws.headers(key, "r-abc-1", now, body)
    # the reference library, as a receiver would use it (it checks against its clock)
    library = Webhook(secret)
    fresh = ws.headers(key, "r-abc-1", int(__import__("time").time()), body)
    assert library.verify(body, fresh) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        library.verify(body, headers)  # 2025: far outside its five minutes, a replay
    with pytest.raises(WebhookVerificationError):
        library.verify(body + b" ", fresh)
    # our own verifier gives the same answers
    assert verify_signature(key, body, headers, now=now + 299)
    assert not verify_signature(key, body, headers, now=now + 301)
    assert not verify_signature(key, body, headers, now=now - 301)
    assert not verify_signature(ws.signing_key("whsec_b3RoZXI="), body, headers, now=now)
    assert ws.signing_key("plain-secret") == b"plain-secret"
    with pytest.raises(ValueError):
        ws.signing_key("whsec_***")


def chat(seq: int, text: str) -> ChatMessage:
    return ChatMessage(seq=seq, ts=1.0, user=ChatUser("v1234567", "Eve", "viewer"), text=text)


def test_a_deleted_message_leaves_a_tombstone_in_the_history() -> None:
    state = RoomState("r", "e1")
    state.apply(chat(1, "secret"))
    state.apply(chat(2, "kept"))
    state.apply(ChatDeleted(seq=3, ts=5.0, id=1))
    assert "secret" not in json.dumps(list(state.history))
    assert "secret" not in json.dumps(state.snapshot())
    assert state.events_since(0)[0] == {"seq": 1, "ts": 5.0, "type": "chat_deleted", "id": 1}
    assert not state.is_message(1) and state.is_message(2)
    # a restore of a history written before tombstones redacts it the same way
    other = RoomState("r", "e1")
    other.restore_history([chat(1, "secret").to_wire(), chat(2, "kept").to_wire(),
                           ChatDeleted(seq=3, ts=5.0, id=1).to_wire()])  # fmt: skip
    other.seq = 3
    assert list(other.history) == list(state.history)
    # a node that still holds the message and one that holds the tombstone agree
    original, tomb = chat(1, "secret").to_wire(), state.history[0]
    assert same_event(original, tomb) and same_event(tomb, original)
    assert not same_event(chat(2, "x").to_wire(), tomb)
    assert judge_tail(1, original, tomb) is Verdict.CURRENT
    assert judge_repeat([tomb], original) is Verdict.CURRENT
    assert judge_repeat([tomb], chat(1, "other").to_wire()) is Verdict.CURRENT
    assert judge_repeat([chat(1, "a").to_wire()], chat(1, "b").to_wire()) is Verdict.STALE


def test_a_stored_banned_word_list_with_lone_surrogates_is_cleaned() -> None:
    state = RoomState("r", "e")
    state.set_banned_words(["OK", "\ud800", "b\udc00ad", 7, "ok", "ＢＡＤ"])  # type: ignore[list-item]
    assert state.banned_words == ["ok", "bad"]
    json.dumps(state.banned_words, ensure_ascii=False).encode()
