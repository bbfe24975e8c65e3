"""The tests of the store contract (``livecart.chat.store``), written once and run on
every implementation.

``StoreContract`` holds them; each layer's file collects them by subclassing it with a
``store`` fixture (a ``RoomStore`` in which room ``r1`` was just created):

- ``tests/pure/test_store_memory.py``: ``MemoryRoomStore`` on a settable clock, no Redis
  (``pytest -m pure``, well under a second);
- ``tests/redis/test_hub_store.py``: ``RedisRoomStore`` on one Redis and on a Redis
  Cluster (``pytest -m redis``).

Why a class and not one fixture parametrised over the three: the folder is the layer
(``tests/conftest.py``) and a pure test may not ask for a Redis fixture, so the memory
run would have had to sit in the redis layer and need a redis-server to be collected.
This module is not a test file itself (pytest collects ``test_*.py`` only).

A test belongs here when it checks what ``chat.store`` promises; what only Redis does
(its keys, its ``run_id``, a Redis that is down or a cluster) stays in ``tests/redis/``,
what only the memory store does (its clock, ``go_away``) in the memory file. The tests
hold for any clock: they assert what a store promises within a few seconds of wall time.
"""

from __future__ import annotations

import asyncio

import pytest

from livecart.chat import events as ev
from livecart.chat.errors import CommandError, RoomNotFound
from livecart.chat.room_state import HISTORY
from livecart.chat.store import (
    ChatBudget,
    RoomStore,
    SaveLineup,
    SaveModeration,
    SavePin,
    SaveProduct,
    SaveRoomField,
)

USER = ev.ChatUser("v1", "Ann", "viewer")
PRODUCT = {"id": "p1", "name": "Scarf", "price": 1, "currency": "CNY", "image_url": "", "stock": 1}


def chat(text: str = "hi") -> ev.ChatMessage:
    return ev.ChatMessage(ts=1.0, user=USER, text=text)


class Heard:
    """A ``FeedListener`` that keeps what it hears."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ev.RoomEvent]] = []
        self.hearts: list[tuple[str, int, int]] = []
        self.words: list[tuple[str, list[str]]] = []

    def on_event(self, room_id: str, event: ev.RoomEvent) -> None:
        self.events.append((room_id, event))

    def on_hearts(self, room_id: str, n: int, total: int) -> None:
        self.hearts.append((room_id, n, total))

    def on_words(self, room_id: str, words: list[str]) -> None:
        self.words.append((room_id, words))

    async def on_reconnect(self) -> None:
        pass


async def _refusal(store: RoomStore, budget: ChatBudget) -> CommandError:
    with pytest.raises(CommandError) as refused:
        await store.emit("r1", chat(), (), budget)
    return refused.value


class StoreContract:
    """The contract's tests; a subclass provides the ``store`` fixture."""

    # -- atomic emit, consistent load ------------------------------------------------

    async def test_emit_sequences_writes_and_history_together(self, store: RoomStore) -> None:
        assert not await store.create_room(
            "r1", title="Again", host="X", host_token_hash="h", commission_rate=0.1
        )
        assert await store.emit("r1", ev.ChatMessage(ts=1.5, user=USER, text="hi")) == 1
        product = ev.ProductChanged(ts=2.0, product=PRODUCT)
        writes = (SaveProduct(PRODUCT), SaveLineup(("p1",)), SavePin("p1"))
        assert await store.emit("r1", product, writes) == 2
        more = (SaveModeration("mute", "v1"), SaveRoomField("slow_mode", 30))
        assert await store.emit("r1", ev.Moderated(ts=3.0, action="mute", vid="v1"), more) == 3
        await store.set_banned_words("r1", ["scam"])
        state, hearts = await store.load("r1")
        assert state.seq == 3 and hearts == 0 and state.epoch == (await store.meta("r1"))["epoch"]
        assert state.products == {"p1": PRODUCT} and state.lineup == ["p1"]
        assert state.pinned == "p1" and state.muted == {"v1"} and state.slow_mode == 30
        assert state.banned_words == ["scam"]
        assert [m["text"] for m in state.chat] == ["hi"]
        after = await store.history_after("r1", 1)
        assert [e.seq for e in after] == [2, 3] and after[0] == ev.ProductChanged(
            seq=2, ts=2.0, product=PRODUCT
        )

    async def test_a_missing_room_is_room_not_found_and_nothing_is_written(
        self, store: RoomStore
    ) -> None:
        with pytest.raises(RoomNotFound):
            await store.load("nope")
        with pytest.raises(RoomNotFound):
            await store.emit("nope", ev.Pinned(product_id=None), (SavePin("p1"),))
        with pytest.raises(RoomNotFound):
            await store.set_banned_words("nope", ["x"])
        assert await store.meta("nope") == {} and await store.room_ids() == ["r1"]
        assert (await store.head("nope")).epoch is None
        assert await store.history_after("nope", 0) == []

    async def test_the_history_keeps_the_last_events_without_gaps(self, store: RoomStore) -> None:
        for i in range(HISTORY + 5):
            assert await store.emit("r1", chat(f"m{i}")) == i + 1
        after = await store.history_after("r1", 0)
        assert [e.seq for e in after] == list(range(6, HISTORY + 6))
        assert [e.seq for e in await store.history_after("r1", HISTORY + 3)] == [
            HISTORY + 4,
            HISTORY + 5,
        ]
        state, _ = await store.load("r1")
        assert state.seq == HISTORY + 5 and state.chat[-1]["text"] == f"m{HISTORY + 4}"

    async def test_a_deleted_message_leaves_a_tombstone_in_the_history(
        self, store: RoomStore
    ) -> None:
        kept = await store.emit("r1", chat("kept"))
        gone = await store.emit("r1", chat("secret"))
        deletion = ev.ChatDeleted(ts=5.0, id=gone)
        assert await store.emit("r1", deletion) == gone + 1
        after = await store.history_after("r1", 0)
        assert after[1] == ev.tombstone(ev.ChatDeleted(seq=gone + 1, ts=5.0, id=gone))
        assert after[2] == ev.ChatDeleted(seq=gone + 1, ts=5.0, id=gone)
        assert "secret" not in repr(after)
        state, _ = await store.load("r1")
        assert [m["text"] for m in state.chat] == ["kept"] and state.chat[0]["id"] == kept
        # deleting what is not a chat message leaves the history as it was
        await store.emit("r1", ev.ChatDeleted(ts=6.0, id=gone + 1))
        assert (await store.history_after("r1", 0))[2] == after[2]

    # -- epoch and head -----------------------------------------------------------------

    async def test_head_reads_the_epoch_and_seq_of_the_room(self, store: RoomStore) -> None:
        epoch = (await store.meta("r1"))["epoch"]
        head = await store.head("r1")
        assert (head.epoch, head.seq) == (epoch, 0) and head.server
        await store.emit("r1", chat())
        assert await store.head("r1") == type(head)(epoch, 1, head.server)
        assert (await store.presence("r1", 2)).head == await store.head("r1")

    async def test_renew_epoch_is_a_compare_and_set(self, store: RoomStore) -> None:
        assert await store.renew_epoch("nope", "whatever") is None
        old = (await store.meta("r1"))["epoch"]
        new = await store.renew_epoch("r1", old)
        assert new is not None and new != old
        assert (await store.head("r1")).epoch == new
        assert await store.renew_epoch("r1", old) == new  # a second node that noticed
        assert (await store.load("r1"))[0].epoch == new

    # -- the feed ---------------------------------------------------------------------

    async def test_the_feed_hears_events_hearts_and_words_in_order(self, store: RoomStore) -> None:
        heard = Heard()
        feed = store.feed(heard)
        task = asyncio.create_task(feed.run())
        try:
            await feed.wait_connected(5)
            await feed.subscribe("r1")
            for text in ("a", "b"):
                await store.emit("r1", chat(text))
            await store.add_hearts({"r1": 4})
            await store.set_banned_words("r1", ["scam"])
            for _ in range(100):
                if heard.words:
                    break
                await asyncio.sleep(0.02)
            assert [(r, e.seq, e.to_wire()["text"]) for r, e in heard.events] == [
                ("r1", 1, "a"),
                ("r1", 2, "b"),
            ]
            assert heard.hearts == [("r1", 4, 4)] and heard.words == [("r1", ["scam"])]
            assert feed.connected and feed.received == 4
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # -- presence, explain, shared values ----------------------------------------------

    async def test_presence_viewers_explain_and_shared_values(self, store: RoomStore) -> None:
        assert (await store.presence("r1", 3)).viewers == 3
        assert await store.viewers("r1") == 3
        assert await store.explain("r1", "p1", "v1") == 1
        assert await store.explain("r1", "p1", "v1") == 1  # once per viewer
        assert await store.explain("r1", "p1", "v2") == 2
        assert await store.explain("r1", "p2", "v1") == 1
        assert (await store.presence("r1", 0)).explain == [["p1", 2], ["p2", 1]]
        assert await store.viewers("r1") == 0
        await store.clear_explain("r1", "p1")
        assert (await store.presence("r1", 0)).explain == [["p2", 1]]
        assert await store.explain("r1", "p1", "v1") == 1  # asked again after the clear
        await store.add_hearts({"r1": 2})
        await store.add_hearts({"r1": 3})
        assert (await store.presence("r1", 0)).hearts == 5 and (await store.load("r1"))[1] == 5
        assert await store.admin_token("adm_first") == "adm_first"
        assert await store.admin_token("adm_second") == "adm_first"
        assert await store.secret() == await store.secret()

    async def test_log_stock_returns_the_stock_while_no_show_is_logged(
        self, store: RoomStore
    ) -> None:
        assert await store.log_stock("r1", {"p1": 9, "p/2": 0}, 1_000, 1_000) == {
            "p1": 9,
            "p/2": 0,
        }

    # -- the chat budget and address bans (``ChatBudget``) ---------------------------------

    async def test_buckets_are_taken_with_the_message_and_refuse_without_emitting(
        self, store: RoomStore
    ) -> None:
        viewer = ChatBudget("v1")
        seqs = [await store.emit("r1", chat(), (), viewer) for _ in range(3)]
        refused = await _refusal(store, viewer)
        assert refused.code == "rate_limited" and 0 < (refused.retry_after or 0) <= 1
        # the refusal took no seq: the next event is the fourth
        assert await store.emit("r1", chat()) == seqs[-1] + 1
        # an address's bucket (rate 1, burst 2) over fresh identities
        addressed = [
            ChatBudget(f"f{i}", address="a1", address_rate=1, address_burst=2) for i in range(3)
        ]
        for b in addressed[:2]:
            await store.emit("r1", chat(), (), b)
        assert (await _refusal(store, addressed[2])).code == "rate_limited"
        await store.emit(
            "r1", chat(), (), ChatBudget("f9", address="a2", address_rate=1, address_burst=2)
        )

    async def test_a_refused_message_writes_nothing(self, store: RoomStore) -> None:
        for _ in range(3):
            await store.emit("r1", chat(), (), ChatBudget("v1"))
        with pytest.raises(CommandError):
            await store.emit("r1", chat(), (SavePin("p1"),), ChatBudget("v1"))
        state, _ = await store.load("r1")
        assert state.seq == 3 and state.pinned is None
        assert [e.seq for e in await store.history_after("r1", 0)] == [1, 2, 3]

    async def test_slow_mode_is_read_from_the_room(self, store: RoomStore) -> None:
        await store.emit(
            "r1", ev.Moderated(ts=1.0, action="mute", vid="x"), (SaveRoomField("slow_mode", 30),)
        )
        await store.emit("r1", chat(), (), ChatBudget("v1"))
        refused = await _refusal(store, ChatBudget("v1"))
        assert refused.code == "slow_mode" and 29 < (refused.retry_after or 0) <= 30

    async def test_address_bans_need_a_ban_and_go_with_the_unban(self, store: RoomStore) -> None:
        budget = ChatBudget("fresh", address="d1", address_rate=2, address_burst=6)
        await store.ban_addresses("r1", "troll", ["d1"])  # not banned: nothing recorded
        assert not await store.address_banned("r1", "d1")
        ban = SaveModeration("ban", "troll")
        await store.emit("r1", ev.Moderated(ts=1.0, action="ban", vid="troll"), (ban,))
        await store.ban_addresses("r1", "troll", ["d1"])
        assert await store.address_banned("r1", "d1")
        assert (await _refusal(store, budget)).code == "banned"
        unban = SaveModeration("unban", "troll")
        await store.emit("r1", ev.Moderated(ts=1.0, action="unban", vid="troll"), (unban,))
        assert not await store.address_banned("r1", "d1")
        await store.emit("r1", chat(), (), budget)
