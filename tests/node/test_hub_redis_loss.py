"""Redis loses a room's data: nobody is left on a stale room.

Two nodes, a few viewers on each, a real redis-server of the test's own, and the room's
state lost in each of the ways a deployment meets: a restart from an older AOF (a
rollback under the same epoch), the history and epoch replaced, FLUSHALL and the room
re-created, a restart on an empty data directory with the room re-created, a restart
that leaves the room missing, and the history deleted with seq and epoch kept.

After the loss every connected viewer gets a fresh snapshot (``recovered: false``) in
Redis' epoch at Redis' seq, or 4004 when the room is gone; new chat reaches everyone;
fresh joiners get Redis' seq and epoch; and a viewer reconnecting with an (epoch, seq)
of before the loss never gets ``recovered: true``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from livecart.chat import loops
from livecart.chat.store_redis import RedisRoomStore
from livecart.keyspace import ADMIN_TOKEN_KEY, ROOMS_INDEX, SECRET_KEY, room_key
from livecart.redis_process import RedisProcess
from tests.hubclient import Client, Node, connect, create_room, running_node

ROOM = "r1"
PER_NODE = 3
DETECT = 10.0  # seconds a test allows for the nodes to notice (they take about one)


@dataclass
class Setup:
    redis: RedisProcess
    nodes: tuple[Node, Node]
    viewers: list[Client]
    senders: Iterator[Client]

    async def db(self) -> aioredis.Redis:
        """A fresh client (the server may have restarted since the last one)."""
        return aioredis.Redis.from_url(self.redis.url)

    async def head(self) -> tuple[str, int]:
        """Redis' (epoch, seq) of the room."""
        db = await self.db()
        try:
            epoch = await db.hget(room_key(ROOM, "meta"), "epoch")
            seq = await db.get(room_key(ROOM, "seq"))
        finally:
            await db.aclose()
        assert epoch is not None
        return epoch.decode(), int(seq or 0)

    async def chat(self, *texts: str) -> list[int]:
        """Send each text from the next viewer (one connection may send 3 at once)."""
        seqs = []
        for text in texts:
            sender = next(self.senders)
            reply = await sender.command("chat", text=text)
            while not reply["ok"] and reply["error"]["code"] == "rate_limited":
                await asyncio.sleep(reply["error"].get("retry_after", 0.2))
                reply = await sender.command("chat", text=text)
            assert reply["ok"], reply
            seqs.append(reply["data"]["seq"])
        return seqs


@asynccontextmanager
async def _setup(tmp_path: Path, http: aiohttp.ClientSession) -> AsyncIterator[Setup]:
    proc = RedisProcess(tmp_path / "redis")
    await asyncio.to_thread(proc.start)
    try:
        async with (
            running_node(proc.url, "node-a") as a,
            running_node(proc.url, "node-b") as b,
        ):
            await create_room(http, a, ROOM)
            viewers = [
                await connect(http, node, ROOM, name=f"v{node.port}-{i}")
                for node in (a, b)
                for i in range(PER_NODE)
            ]
            yield Setup(proc, (a, b), viewers, itertools.cycle(viewers))
            for viewer in viewers:
                await viewer.ws.close()
    finally:
        await asyncio.to_thread(proc.stop)


@pytest.fixture
async def setup(tmp_path: Path, http: aiohttp.ClientSession) -> AsyncIterator[Setup]:
    """Redis of this test's own (so it may be killed and rewritten), two nodes, a room
    and ``PER_NODE`` viewers on each node."""
    async with _setup(tmp_path, http) as s:
        yield s


@pytest.fixture
async def setup_feed_only(
    tmp_path: Path, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Setup]:
    """``setup`` with nodes whose once-a-second check never comes round: only the feed
    can tell them."""
    monkeypatch.setattr(loops, "PRESENCE_INTERVAL", 3600.0)
    async with _setup(tmp_path, http) as s:
        yield s


def snapshots(client: Client) -> list[dict[str, Any]]:
    return [f for f in client.frames if f["t"] == "snapshot"]


async def settle(s: Setup, seq: int) -> None:
    """Every viewer has applied ``seq``."""
    for viewer in s.viewers:
        await viewer.wait_for(lambda c: c.seq >= seq)


async def all_resnapshot(s: Setup, epoch: str, seq: int) -> None:
    """Every connected viewer gets a fresh snapshot in ``epoch`` at ``seq``."""

    def resnapshot(c: Client) -> bool:
        later = snapshots(c)[1:]
        return bool(later) and (later[-1]["epoch"], later[-1]["seq"]) == (epoch, seq)

    for viewer in s.viewers:
        await viewer.wait_for(resnapshot, DETECT)
        assert all(f["recovered"] is False for f in snapshots(viewer))
        chat = snapshots(viewer)[-1]["chat"]
        assert [m["seq"] for m in chat] == list(range(seq - len(chat) + 1, seq + 1))


async def new_chat_reaches_everyone(s: Setup) -> None:
    (seq,) = await s.chat("after the loss")
    for viewer in s.viewers:
        await viewer.wait_for(
            lambda c: any(e["seq"] == seq and e.get("text") == "after the loss" for e in c.events)
        )
    assert (await s.head())[1] == seq


async def joiners_get_redis_truth(
    s: Setup, http: aiohttp.ClientSession, old_epoch: str, old_seqs: list[int]
) -> None:
    """A fresh joiner on each node gets Redis' (epoch, seq); a viewer that reconnects with
    an (epoch, seq) from before the loss gets a snapshot, never ``recovered: true``."""
    epoch, seq = await s.head()
    for node in s.nodes:
        fresh = await connect(http, node, ROOM, name="late")
        assert fresh.first["t"] == "snapshot"
        assert (fresh.first["epoch"], fresh.first["seq"]) == (epoch, seq)
        await fresh.ws.close()
        for old in old_seqs:
            back = await connect(http, node, ROOM, name="back", since=old, epoch=old_epoch)
            assert back.first["t"] == "snapshot", (old, back.first.get("events"))
            assert back.first["recovered"] is False
            assert (back.first["epoch"], back.first["seq"]) == (epoch, seq)
            await back.ws.close()


def aof_entries(data_dir: Path) -> list[Path]:
    """What RedisProcess keeps its data in: ``appendonly.aof`` (Redis 6) or
    ``appendonlydir/`` (Redis 7)."""
    return [p for p in (data_dir / "appendonly.aof", data_dir / "appendonlydir") if p.exists()]


def copy_aof(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for entry in aof_entries(src):
        if entry.is_dir():
            shutil.copytree(entry, dst / entry.name)
        else:
            shutil.copy2(entry, dst / entry.name)


def replace_aof(data_dir: Path, backup: Path | None) -> None:
    """Put ``backup``'s AOF in place of the server's (None: leave it empty)."""
    for entry in aof_entries(data_dir):
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    if backup is not None:
        copy_aof(backup, data_dir)


async def test_restart_from_an_older_aof_rolls_back_under_the_same_epoch(
    setup: Setup, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    s = setup
    kept = await s.chat(*(f"kept {i}" for i in range(5)))
    await settle(s, kept[-1])
    backup = tmp_path / "older"
    await asyncio.to_thread(copy_aof, s.redis.data_dir, backup)  # fsync always: it is all there
    lost = await s.chat(*(f"lost {i}" for i in range(8)))
    await settle(s, lost[-1])
    old_epoch, old_seq = await s.head()
    assert old_seq == 13

    await asyncio.to_thread(s.redis.kill)
    await asyncio.to_thread(replace_aof, s.redis.data_dir, backup)
    await asyncio.to_thread(s.redis.start)

    epoch, seq = await _eventually_head(s, lambda e, q: e != old_epoch)
    assert seq == 5  # the rollback, now under a new epoch
    await all_resnapshot(s, epoch, 5)
    await new_chat_reaches_everyone(s)
    await s.chat("more", "and more")  # Redis' seq passes seqs the old world used too
    # 6 and 7 were "lost 0"/"lost 1" before and are other messages now: no resume.
    await joiners_get_redis_truth(s, http, old_epoch, [5, 6, 7, old_seq])


async def test_history_and_epoch_replaced(setup: Setup, http: aiohttp.ClientSession) -> None:
    s = setup
    seqs = await s.chat(*(f"before {i}" for i in range(6)))
    await settle(s, seqs[-1])
    old_epoch, _ = await s.head()
    db = await s.db()
    try:
        records = [json.loads(r) for r in await db.lrange(room_key(ROOM, "history"), 0, 1)]
        for record in records:
            record["text"] = f"imported {record['seq']}"
        async with db.pipeline(transaction=True) as pipe:
            pipe.hset(room_key(ROOM, "meta"), "epoch", "imported")
            pipe.delete(room_key(ROOM, "history"))
            pipe.rpush(room_key(ROOM, "history"), *(json.dumps(r) for r in records))
            pipe.set(room_key(ROOM, "seq"), 2)
            await pipe.execute()
    finally:
        await db.aclose()

    await all_resnapshot(s, "imported", 2)
    for viewer in s.viewers:
        texts = [m["text"] for m in snapshots(viewer)[-1]["chat"]]
        assert texts == ["imported 1", "imported 2"]
    await new_chat_reaches_everyone(s)
    await joiners_get_redis_truth(s, http, old_epoch, [2, 3, seqs[-1]])


async def flush_and_recreate(s: Setup) -> None:
    """FLUSHALL and the room created again with epoch "recreated", in one transaction
    (so no node can find the room missing in between)."""
    db = await s.db()
    try:
        meta = await db.hgetall(room_key(ROOM, "meta"))
        shared = {k: await db.get(k) for k in (SECRET_KEY, ADMIN_TOKEN_KEY)}
        meta[b"epoch"] = b"recreated"
        async with db.pipeline(transaction=True) as pipe:  # no moment without the room
            pipe.flushall()
            pipe.hset(room_key(ROOM, "meta"), mapping=meta)
            pipe.set(room_key(ROOM, "seq"), 0)
            pipe.sadd(ROOMS_INDEX, ROOM)
            for key, value in shared.items():
                if value is not None:
                    pipe.set(key, value)
            await pipe.execute()
    finally:
        await db.aclose()


async def test_flushall_and_the_room_recreated(setup: Setup, http: aiohttp.ClientSession) -> None:
    s = setup
    seqs = await s.chat(*(f"before {i}" for i in range(4)))
    await settle(s, seqs[-1])
    old_epoch, _ = await s.head()
    await flush_and_recreate(s)

    await all_resnapshot(s, "recreated", 0)
    await new_chat_reaches_everyone(s)
    await joiners_get_redis_truth(s, http, old_epoch, [0, 1, seqs[-1]])


async def test_a_seq_issued_again_on_the_feed_is_noticed_at_once(
    setup_feed_only: Setup, http: aiohttp.ClientSession
) -> None:
    """No periodic check, no reconnect: the first new chat (seq 1 again) tells them."""
    s = setup_feed_only
    seqs = await s.chat(*(f"before {i}" for i in range(4)))
    await settle(s, seqs[-1])
    old_epoch, _ = await s.head()
    await flush_and_recreate(s)
    await asyncio.sleep(1.5)
    assert all(len(snapshots(v)) == 1 for v in s.viewers)  # nothing told them yet
    (seq,) = await s.chat("seq 1 again")
    assert seq == 1
    await all_resnapshot(s, "recreated", 1)
    for viewer in s.viewers:
        assert snapshots(viewer)[-1]["chat"][-1]["text"] == "seq 1 again"
    await joiners_get_redis_truth(s, http, old_epoch, [0, 1, seqs[-1]])


async def test_restart_empty_and_the_room_recreated(
    setup: Setup, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    s = setup
    seqs = await s.chat(*(f"before {i}" for i in range(4)))
    await settle(s, seqs[-1])
    old_epoch, _ = await s.head()
    # The room re-created on an empty Redis, ready before the nodes can look.
    other = RedisProcess(tmp_path / "other")
    await asyncio.to_thread(other.start)
    db = await s.db()
    fresh = aioredis.Redis.from_url(other.url)
    try:
        for key in (SECRET_KEY, ADMIN_TOKEN_KEY):
            value = await db.get(key)
            if value is not None:
                await fresh.set(key, value)
        assert await RedisRoomStore(fresh, "setup").create_room(
            ROOM, title="Again", host="Mia", host_token_hash="x", commission_rate=0.1
        )
    finally:
        await db.aclose()
        await fresh.aclose()
        await asyncio.to_thread(other.stop)

    await asyncio.to_thread(s.redis.kill)
    await asyncio.to_thread(replace_aof, s.redis.data_dir, other.data_dir)
    await asyncio.to_thread(s.redis.start)

    epoch, seq = await s.head()
    assert epoch != old_epoch and seq == 0
    await all_resnapshot(s, epoch, 0)
    await new_chat_reaches_everyone(s)
    await joiners_get_redis_truth(s, http, old_epoch, [0, 1, seqs[-1]])


async def test_restart_empty_leaves_the_room_missing(
    setup: Setup, http: aiohttp.ClientSession
) -> None:
    s = setup
    seqs = await s.chat(*(f"before {i}" for i in range(3)))
    await settle(s, seqs[-1])
    old_epoch, _ = await s.head()
    await asyncio.to_thread(s.redis.kill)
    await asyncio.to_thread(replace_aof, s.redis.data_dir, None)
    await asyncio.to_thread(s.redis.start)

    for viewer in s.viewers:
        with pytest.raises(ConnectionError):
            await viewer.wait_for(lambda c: False, DETECT)
        assert viewer.server_close_code == 4004
    for node in s.nodes:  # not served from the memory of the room that was
        ws = await http.ws_connect(f"{node.url}/ws/{ROOM}", params={"name": "late"})
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4004
        await ws.close()

    await create_room(http, s.nodes[0], ROOM)
    await joiners_get_redis_truth(s, http, old_epoch, [0, 1, seqs[-1]])
    assert (await s.head())[1] == 0


async def test_history_deleted_seq_and_epoch_kept(
    setup: Setup, http: aiohttp.ClientSession
) -> None:
    """Nothing went back: the viewers' state is still right, so they keep it."""
    s = setup
    seqs = await s.chat(*(f"before {i}" for i in range(5)))
    await settle(s, seqs[-1])
    epoch, _ = await s.head()
    db = await s.db()
    try:
        await db.delete(room_key(ROOM, "history"))
    finally:
        await db.aclose()
    await asyncio.sleep(1.5)  # a check of every room has run
    await new_chat_reaches_everyone(s)
    for viewer in s.viewers:
        assert len(snapshots(viewer)) == 1  # no needless snapshot
        assert [e["seq"] for e in viewer.events] == list(range(1, seqs[-1] + 2))
    now_epoch, now_seq = await s.head()
    assert now_epoch == epoch
    for node in s.nodes:
        fresh = await connect(http, node, ROOM, name="late")
        assert (fresh.first["epoch"], fresh.first["seq"]) == (epoch, now_seq)
        await fresh.ws.close()
        back = await connect(http, node, ROOM, name="back", since=seqs[1], epoch=epoch)
        if back.first["t"] == "resume":  # exact, from what the node still holds
            assert [e["seq"] for e in back.first["events"]] == list(range(seqs[1] + 1, now_seq + 1))
        else:
            assert back.first["recovered"] is False and back.first["seq"] == now_seq
        await back.ws.close()


async def _eventually_head(s: Setup, ok: Any, timeout: float = DETECT) -> tuple[str, int]:
    """Redis' (epoch, seq) once ``ok(epoch, seq)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        epoch, seq = await s.head()
        if ok(epoch, seq):
            return epoch, seq
        assert time.monotonic() < deadline, f"head stayed at {epoch} {seq}"
        await asyncio.sleep(0.05)


async def test_a_join_checks_the_room_before_it_is_answered(
    setup_feed_only: Setup, http: aiohttp.ClientSession
) -> None:
    """No periodic check, no reconnect, no new chat: a joiner still gets Redis' room, and
    the check its join made re-snapshots the viewers already there."""
    s = setup_feed_only
    seqs = await s.chat(*(f"before {i}" for i in range(4)))
    await settle(s, seqs[-1])
    old_epoch, _ = await s.head()
    await flush_and_recreate(s)
    await asyncio.sleep(1.0)
    assert all(len(snapshots(v)) == 1 for v in s.viewers)  # nothing told them yet
    for node in s.nodes:
        late = await connect(http, node, ROOM, name="late")
        assert (late.first["t"], late.first["epoch"], late.first["seq"]) == (
            "snapshot",
            "recreated",
            0,
        )
        await late.ws.close()
    await all_resnapshot(s, "recreated", 0)
    await new_chat_reaches_everyone(s)
    await joiners_get_redis_truth(s, http, old_epoch, [0, 1, seqs[-1]])
