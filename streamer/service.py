"""The streamer's per-application state: publishers, channels, background tasks.

Held under one ``web.AppKey`` (see :mod:`streamer.app`); no module globals.
HTTP handlers in :mod:`streamer.whip` and :mod:`streamer.playback` call the
methods here; the publish rules themselves live in :mod:`streamer.registry`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livecart.streamer.channel import Channel
from livecart.streamer.fanout import FanoutStats
from livecart.streamer.publisher import Publisher
from livecart.streamer.recorder import ShowRecorder
from livecart.streamer.registry import RateLimiter, SessionRegistry, new_session_id

if TYPE_CHECKING:
    from livecart.streamer.cluster import MediaCluster

log = logging.getLogger(__name__)

Authorize = Callable[[str, str], Awaitable[bool]]
OnLive = Callable[[str, bool], Awaitable[None]]
OnShow = Callable[[str, str, bool], Awaitable[None]]

MAX_NEGOTIATIONS = 4
"""Offers processed at once; more get 429 (a negotiation costs sockets and DTLS keys)."""
RECORDING_CLOSE_TIMEOUT = 30.0
"""Seconds shutdown waits for the recorder threads to write what they were given."""


class StreamerService:
    """Everything the streamer routes share for one aiohttp application."""

    def __init__(
        self,
        *,
        authorize: Authorize,
        on_live: OnLive,
        data_dir: Path,
        ice_hosts: Sequence[str] = (),
        limiter: RateLimiter | None = None,
    ) -> None:
        self.authorize = authorize
        self.on_live = on_live
        self.data_dir = data_dir
        self.ice_hosts = tuple(ice_hosts)
        self.limiter = limiter or RateLimiter()
        self.sessions: SessionRegistry[Publisher] = SessionRegistry()
        self.channels: dict[str, Channel] = {}
        self.recordings: set[ShowRecorder] = set()
        """Shows whose recorder thread is still writing, in every channel (even forgotten)."""
        self.negotiating = 0
        self.pending: set[Publisher] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._room_locks: dict[str, asyncio.Lock] = {}
        self.closing = False
        self.cluster: MediaCluster | None = None
        """Set by ``setup_streamer(redis_url=...)``: the relay to and from other processes."""
        self._replaced_elsewhere: set[str] = set()
        self.publishes = 0
        """WHIP sessions started on this process (for /metrics)."""
        self.retired = FanoutStats()
        """The video fan-out counters of channels forgotten (for /metrics)."""
        self.on_show: OnShow | None = None
        """Called with ``(room, show id, True)`` when this process starts recording a
        show (each publish, a replacing one too) and ``(room, show id, False)`` when
        that show ends: how the room's event log follows the recording."""

    def channel(self, room: str) -> Channel:
        """The room's channel, created on first use."""
        ch = self.channels.get(room)
        if ch is None:
            ch = self.channels[room] = Channel(room, self.data_dir, recordings=self.recordings)
        return ch

    def forget_channel_if_idle(self, room: str) -> None:
        """Drop a channel with no show, no viewers and no publisher negotiating for it."""
        ch = self.channels.get(room)
        if ch is None or ch.live or ch.fanout.viewers:
            return
        if not any(p.channel is ch for p in self.pending):
            self.retired.add(ch.fanout.stats)
            del self.channels[room]
            lock = self._room_locks.get(room)
            if lock is not None and not lock.locked():
                del self._room_locks[room]

    def video_stats(self) -> FanoutStats:
        """The video fan-out counters of every channel, forgotten ones included."""
        total = FanoutStats()
        total.add(self.retired)
        for ch in self.channels.values():
            total.add(ch.fanout.stats)
        return total

    def peer_connections(self) -> int:
        """Peer connections alive (registered or still negotiating)."""
        return len(self.sessions) + len(self.pending)

    async def publish(self, room: str, offer: str) -> tuple[str, str]:
        """Negotiate a new publisher for ``room``; return ``(session id, answer)``.

        Replaces the room's current publisher. Raises whatever negotiation
        raises (:class:`~streamer.errors.OfferRejected` for client mistakes), in
        which case nothing is left behind.
        """
        session_id = new_session_id()
        publisher = Publisher(
            session_id, self.channel(room), ice_hosts=self.ice_hosts, on_ended=self._ended
        )
        self.pending.add(publisher)
        self.negotiating += 1
        try:
            answer = await publisher.negotiate(offer)
        except BaseException:
            self.pending.discard(publisher)
            await publisher.close()
            self.forget_channel_if_idle(room)
            raise
        finally:
            self.negotiating -= 1
        lock = self._room_locks.setdefault(room, asyncio.Lock())
        async with lock:
            self.pending.discard(publisher)
            if self.closing or publisher.closed:
                await publisher.close()
                raise ConnectionError("shutting down")
            claim = self.sessions.claim(room, session_id, publisher)
            self.publishes += 1
            show = publisher.channel.start_show(stream=session_id[:8], audio=publisher.has_audio)
            await self._show_changed(room, show.recorder.show, True)
            publisher.start()
            if claim.replaced is not None:
                await claim.replaced.close()
        if self.cluster is not None:
            await self.cluster.origin_started(room, session_id, publisher.channel)
        if claim.went_live:
            await self._notify(room, True)
        return session_id, answer

    async def unpublish(self, room: str, session_id: str, *, local_only: bool = False) -> bool:
        """End a session; False when it is unknown or belongs to another room.

        A session held by another process is ended there (through Redis) unless
        ``local_only``; the answer is that process's.
        """
        publisher = self.sessions.get(session_id)
        if publisher is None or self.sessions.room_of(session_id) != room:
            if self.cluster is not None and not local_only:
                return await self.cluster.remote_delete(room, session_id)
            return False
        await publisher.close()
        return True

    def replaced_elsewhere(self, room: str, session_id: str) -> None:
        """Another process took the room's publisher: end ours without going offline."""
        publisher = self.sessions.get(session_id)
        if publisher is None or self.sessions.room_of(session_id) != room:
            return
        self._replaced_elsewhere.add(session_id)
        self._spawn(publisher.close())

    async def watch(self, room: str) -> None:
        """A video viewer joined: without a local show, relay the room in from its origin."""
        channel = self.channel(room)
        if self.cluster is not None and not channel.live and not self.closing:
            await self.cluster.watch(room, channel)

    def viewer_left(self, room: str) -> None:
        """A video viewer left: stop relaying in once the room has none here."""
        channel = self.channels.get(room)
        if channel is not None and not channel.fanout.viewers and self.cluster is not None:
            self.cluster.unwatch(room)
        self.forget_channel_if_idle(room)

    async def close(self) -> None:
        """Close every peer connection, end every show, wait for the recordings to be written.

        Waits at most :data:`RECORDING_CLOSE_TIMEOUT` for the recorder threads (a hung
        disk); the threads are not daemons, so the process still exits only after them.
        """
        self.closing = True
        publishers = self.sessions.values() + list(self.pending)
        await asyncio.gather(*(p.close() for p in publishers), return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for ch in self.channels.values():
            ch.end_show()
        await self.recordings_written(RECORDING_CLOSE_TIMEOUT)

    async def recordings_written(self, timeout: float | None = None) -> bool:
        """Wait until every ended show's recorder finished; False if ``timeout`` passed."""
        waiting = [asyncio.ensure_future(r.wait_closed()) for r in self.recordings if r.closing]
        if not waiting:
            return True
        _done, pending = await asyncio.wait(waiting, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            log.error("%d recordings still being written after %s s", len(pending), timeout)
        return not pending

    def _ended(self, publisher: Publisher) -> None:
        released = self.sessions.release(publisher.session_id)
        if released is None:
            return
        if self.cluster is not None:
            self.cluster.origin_ended(released.room, publisher.session_id)
        if not released.went_offline:
            return
        ending = publisher.channel.show
        publisher.channel.end_show()
        room = released.room
        if ending is not None:
            self._spawn(self._show_changed(room, ending.recorder.show, False))
        if publisher.session_id in self._replaced_elsewhere:
            self._replaced_elsewhere.discard(publisher.session_id)
            if publisher.channel.fanout.viewers:  # they follow the new publisher
                self._spawn(self.watch(room))
            return
        self.forget_channel_if_idle(room)
        self._spawn(self._notify(room, False))

    async def _show_changed(self, room: str, show: str, started: bool) -> None:
        if self.on_show is None:
            return
        try:
            await self.on_show(room, show, started)
        except Exception:
            log.exception("on_show(%r, %r) failed", room, show, extra={"room": room})

    async def _notify(self, room: str, live: bool) -> None:
        try:
            await self.on_live(room, live)
        except Exception:
            log.exception("on_live(%r, %r) failed", room, live, extra={"room": room})

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
