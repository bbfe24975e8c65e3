"""The client's pure core: frames in, typed events out, each once and in order; the
room view; replies and errors; the reconnect schedule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from livecart import client
from livecart.client.protocol import ClientProtocol

YOU = {"vid": "vAnn0001", "token": "vAnn0001.sig", "name": "Ann", "role": "viewer"}
ROOM = {"id": "r1", "title": "Show", "host": "Mia", "status": "live", "slow_mode": 0}
SCARF = {"id": "p1", "name": "Scarf", "price": 12900, "currency": "CNY", "stock": 5}


def chat(seq: int, text: str = "") -> dict[str, Any]:
    user = {"vid": "vBo00001", "name": "Bo", "role": "viewer"}
    return {
        "seq": seq,
        "ts": 1.0,
        "type": "chat",
        "user": user,
        "text": text or f"m{seq}",
        "id": seq,
    }


def snapshot(seq: int = 3, epoch: str = "e1", **extra: Any) -> dict[str, Any]:
    frame = {
        "t": "snapshot", "recovered": False, "epoch": epoch, "seq": seq, "you": YOU,
        "room": ROOM, "products": {"p1": SCARF}, "lineup": ["p1"], "pinned": None,
        "sales": {}, "chat": [chat(seq)], "live": {"viewers": 1, "hearts_total": 4},
    }  # fmt: skip
    return {**frame, **extra}


def seqs(items: list[Any]) -> list[int]:
    return [i.seq for i in items if isinstance(i, client.RoomEvent)]


def test_the_first_snapshot_is_kept_and_batches_deliver_each_event_once() -> None:
    proto = ClientProtocol()
    assert proto.receive(snapshot()) == [] and proto.snapshot is not None
    assert proto.snapshot.room.title == "Show" and proto.snapshot.pinned_product is None
    assert proto.query() == {"vid": "vAnn0001.sig", "since": "3", "epoch": "e1"}
    # a shared batch may repeat what the snapshot held
    items = proto.receive({"t": "batch", "events": [chat(3), chat(4)], "live": {"hearts": 2}})
    assert seqs(items) == [4] and items[-1] == client.LiveChanged({"hearts": 2})
    assert isinstance(items[0], client.ChatMessage) and items[0].user.name == "Bo"
    assert proto.receive({"t": "batch", "events": [chat(4), chat(5)], "skipped": 3})[1:] == [
        client.Skipped(3)
    ]
    assert proto.receive({"t": "batch", "events": []}) == []
    assert proto.query()["since"] == "5"


def test_a_resume_replays_only_what_was_missed_and_later_batches_do_not_repeat() -> None:
    proto = ClientProtocol()
    proto.receive(snapshot())
    proto.receive({"t": "batch", "events": [chat(4)]})
    frame = {"t": "resume", "recovered": True, "epoch": "e1", "seq": 7, "you": YOU,
             "events": [chat(5), chat(6), chat(7)], "live": {"viewers": 9}}  # fmt: skip
    items = proto.receive(frame)
    assert items[0] == client.Resumed("e1", 4, 7, client.You(**YOU), {"viewers": 9})
    assert seqs(items) == [5, 6, 7]
    assert seqs(proto.receive({"t": "batch", "events": [chat(6), chat(7), chat(8)]})) == [8]
    with pytest.raises(ValueError):
        proto.receive({**frame, "epoch": "other"})


def test_a_later_snapshot_resets_the_position() -> None:
    proto = ClientProtocol()
    proto.receive(snapshot(seq=10))
    (reset,) = proto.receive(snapshot(seq=2, epoch="e2"))
    assert isinstance(reset, client.Reset) and reset.snapshot.epoch == "e2"
    assert proto.query()["since"] == "2" and proto.query()["epoch"] == "e2"
    assert seqs(proto.receive({"t": "batch", "events": [chat(3)]})) == [3]  # not dropped


def test_unknown_kinds_pass_through_and_unreadable_frames_raise() -> None:
    proto = ClientProtocol()
    proto.receive(snapshot())
    new_kind = {"seq": 4, "ts": 2.0, "type": "poll", "question": "Red or blue?"}
    broken_chat = {"seq": 5, "ts": 2.0, "type": "chat"}
    items = proto.receive({"t": "batch", "events": [new_kind, broken_chat]})
    assert [type(i) for i in items] == [client.UnknownEvent, client.UnknownEvent]
    assert items[0].type == "poll" and items[0].to_wire() == new_kind  # type: ignore[union-attr]
    assert proto.receive({"t": "hello"}) == []  # a frame type of a newer server
    with pytest.raises(ValueError):
        proto.receive({"t": "batch", "events": [{"type": "chat"}]})  # no seq
    with pytest.raises(ValueError):
        proto.receive({"t": "snapshot", "seq": 1})
    assert proto.query()["since"] == "5"  # the frames that raised changed nothing


def test_replies_return_data_or_raise_the_error_code() -> None:
    proto = ClientProtocol()
    cid, frame = proto.command("chat", {"text": "hi"})
    assert frame == {"id": cid, "cmd": "chat", "text": "hi"}
    assert proto.command("ping", {})[0] == cid + 1
    (ok,) = proto.receive({"t": "reply", "id": cid, "ok": True, "data": {"seq": 9}})
    assert isinstance(ok, client.Reply) and ok.result() == {"seq": 9}
    error = {"code": "slow_mode", "message": "slow", "retry_after": 2.5}
    (no,) = proto.receive({"t": "reply", "id": cid, "ok": False, "error": error})
    assert isinstance(no, client.Reply)
    with pytest.raises(client.CommandError) as refused:
        no.result()
    assert (refused.value.code, refused.value.retry_after) == ("slow_mode", 2.5)
    with pytest.raises(client.CommandError, match="internal"):
        client.Reply(1, False, {}, None).result()
    with pytest.raises(ValueError):
        proto.command("chat", {"id": 3})


def test_the_view_follows_the_events() -> None:
    proto = ClientProtocol()
    proto.receive(snapshot())
    assert proto.snapshot is not None
    view = client.RoomView.from_snapshot(proto.snapshot)
    bag = {"id": "p2", "name": "Bag", "price": 5000, "currency": "CNY", "stock": 1}
    sale = {"product_id": "p2", "price": 4000, "state": "open"}
    events = [
        {"seq": 4, "ts": 1.0, "type": "product", "product": bag},
        {"seq": 5, "ts": 1.0, "type": "pin", "product_id": "p2"},
        {"seq": 6, "ts": 1.0, "type": "sale", "product_id": "p2", "sale": sale},
        {"seq": 7, "ts": 1.0, "type": "moderation", "action": "mute", "vid": "vAnn0001"},
        {"seq": 8, "ts": 1.0, "type": "chat_deleted", "id": 3},
        {"seq": 9, "ts": 1.0, "type": "lineup", "lineup": ["p2", "p1"]},
        {"seq": 10, "ts": 1.0, "type": "room", "room": {**ROOM, "slow_mode": 5}},
    ]
    batch = {"t": "batch", "events": events, "live": {"hearts": 3, "stock": {"p2": 1}}}
    for item in proto.receive(batch):
        view.apply(item)
    assert view.pinned_product == bag and view.sales["p2"] == sale
    assert view.lineup == ["p2", "p1"] and view.room.slow_mode == 5
    assert view.you.muted and view.chat == [] and view.seq == 10
    assert view.live["hearts_total"] == 7 and view.live["stock"] == {"p2": 1}
    view.apply(client.LiveChanged({"stock": {"p1": 4}}))
    assert view.live["stock"] == {"p1": 4, "p2": 1}
    for item in proto.receive(snapshot(seq=1, epoch="e2")):
        view.apply(item)
    assert (view.epoch, view.seq, view.pinned, view.lineup) == ("e2", 1, None, ["p1"])


def test_the_backoff_doubles_to_ten_seconds_with_jitter_and_resets() -> None:
    none = client.Backoff(rand=lambda: 0.0)
    assert [none.next_delay() for _ in range(7)] == [0.5, 1, 2, 4, 8, 10, 10]
    none.reset()
    assert none.next_delay() == 0.5
    most = client.Backoff(rand=lambda: 0.999999)
    assert 0.5 * 1.3 - 1e-3 < most.next_delay() < 0.5 * 1.3
    with pytest.raises(ValueError):
        client.Backoff(first=0)


def test_room_urls() -> None:
    from livecart.client.connection import room_url

    assert room_url("http://h:8080/", "demo", {"name": "A b"}) == "ws://h:8080/ws/demo?name=A+b"
    assert room_url("https://h/shop", "r/1", {}) == "wss://h/shop/ws/r%2F1"
    with pytest.raises(ValueError):
        room_url("ftp://h", "demo", {})


def test_the_client_docs_show_the_example_bot_as_it_is() -> None:
    root = Path(__file__).resolve().parents[2]
    code = (root / "examples" / "price_bot.py").read_text().split('"""\n\n', 1)[1]
    section = (root / "docs" / "python-client.md").read_text().split("# The Python client\n", 1)[1]
    assert "```python\n" + code.rstrip() + "\n```" in section.split("\n## ", 1)[0]
