"""``python -m bench.soak`` (``make soak``): viewers joining and leaving for a fixed time, and what
each server process holds before, at the peak and after settling.

It starts a private Redis and ``--nodes`` ``livecart serve`` processes on it (free ports on
127.0.0.1), creates a room, and runs ``--viewers`` churning viewers for ``--seconds``:
each joins a random node, stays a random time (``--stay`` seconds, uniform), leaves, and
comes back — a ``--resume`` share of them with ``since``/``epoch`` and its viewer token
(the first frame must be a ``resume`` whose events follow on from ``since``), the others
as new viewers; a ``--chat`` share of the visits sends one chat message. Every frame a
viewer reads is checked for gaps in ``seq``.

From each server it reads, before the churn (after a short warm-up), at the end of the
churn (the peak) and after settling: RSS and open fds by kind (``/proc``), TCP
connections to Redis (``/proc/PID/net/tcp``), and from ``/api/stats``: asyncio tasks,
sessions and the Redis pool's connections. Settling waits (at most ``--settle``
seconds) until every node is back to its sessions, tasks, fds and Redis connections of
before. It prints one table per node and the RSS slope over the second half of the
churn; ``--tracemalloc N`` also starts the servers with ``LIVECART_TRACEMALLOC=N`` and
prints the allocation sites that grew most (``web.memory_debug``).

``tests/node/test_churn.py`` runs the same thing for a few seconds and asserts it.
Only 127.0.0.1 is ever targeted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import procstat
from bench.localserver import private_redis, serve_argv, spawn_server
from livecart.loadtest.wsclient import raise_fd_limit
from livecart.redis_client import MAX_IDLE
from livecart.redis_process import free_port

JSON_PROTOCOL = "livecart.v1.json"
ROOM = "soak"
MiB = 1024 * 1024


@dataclass
class SoakNode:
    url: str
    pid: int


@dataclass
class Cluster:
    nodes: list[SoakNode]
    admin: str
    redis_url: str
    redis_port: int


@contextlib.contextmanager
def soak_servers(n: int, *, tracemalloc: int = 0) -> Iterator[Cluster]:
    """A private Redis and ``n`` ``livecart serve`` processes on it, stopped on exit."""
    admin = "adm_soak_" + secrets.token_hex(8)
    if tracemalloc:
        os.environ["LIVECART_TRACEMALLOC"] = str(tracemalloc)  # inherited by the servers
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(private_redis())
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="livecart-soak-")))
        nodes = []
        for i in range(n):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            data = tmp / f"node{i}"
            argv = serve_argv(port, redis.url, admin, data)
            proc = stack.enter_context(spawn_server(argv, f"{url}/healthz", tmp / f"node{i}.log"))
            nodes.append(SoakNode(url, proc.pid))
        yield Cluster(nodes, admin, redis.url, redis.port)


# -- the churning viewers ------------------------------------------------------------------


@dataclass
class Churn:
    """What the viewers did and saw."""

    connections: int = 0
    resumes: int = 0
    resumed: int = 0  # answered with a resume that followed on exactly
    resume_snapshots: int = 0  # answered with a snapshot instead (allowed, counted)
    chats: int = 0
    gaps: int = 0  # a seq that did not follow on (never allowed)
    bad_resumes: int = 0  # a resume whose events did not start at since + 1 (never allowed)
    failures: int = 0  # a connection that failed or closed unexpectedly
    errors: list[str] = field(default_factory=list)

    def fail(self, why: str) -> None:
        self.failures += 1
        if len(self.errors) < 10:
            self.errors.append(why)


@dataclass
class ChurnPlan:
    viewers: int = 300
    seconds: float = 300.0
    stay: tuple[float, float] = (1.0, 10.0)
    resume_share: float = 0.33
    chat_share: float = 0.3


class _Viewer:
    """One viewer's visits: join, read, maybe chat, leave; then again."""

    def __init__(
        self, http: aiohttp.ClientSession, urls: list[str], plan: ChurnPlan, churn: Churn
    ) -> None:
        self.http = http
        self.urls = urls
        self.plan = plan
        self.churn = churn
        self.rng = random.Random()
        self.token: str | None = None
        self.epoch: str | None = None
        self.seq = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            resume = self.token is not None and self.rng.random() < self.plan.resume_share
            if not resume:
                self.token = self.epoch = None
                self.seq = 0
            try:
                await self._visit(stop, resume)
            except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
                self.churn.fail(f"{type(exc).__name__}: {exc}")
                self.token = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.rng.uniform(0.05, 0.5))

    async def _visit(self, stop: asyncio.Event, resume: bool) -> None:
        churn = self.churn
        params = {"name": "soak"}
        if resume and self.token and self.epoch:
            params.update(vid=self.token, since=str(self.seq), epoch=self.epoch)
            churn.resumes += 1
        url = f"{self.rng.choice(self.urls)}/ws/{ROOM}"
        async with self.http.ws_connect(url, protocols=(JSON_PROTOCOL,), params=params) as ws:
            churn.connections += 1
            first = await self._frame(ws, 10.0)
            if first is None:
                churn.fail(f"closed before the first frame ({ws.close_code})")
                return
            self._first(first, resume)
            deadline = time.monotonic() + self.rng.uniform(*self.plan.stay)
            if self.rng.random() < self.plan.chat_share:
                await ws.send_str(json.dumps({"id": 1, "cmd": "chat", "text": "hello"}))
                churn.chats += 1
            while not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                frame = await self._frame(ws, left)
                if frame is None:
                    if time.monotonic() < deadline - 0.01 and not stop.is_set():
                        churn.fail(f"closed by the server ({ws.close_code})")
                    return
                if frame.get("t") == "batch":
                    self._follow(frame.get("events", []))

    @staticmethod
    async def _frame(ws: aiohttp.ClientWebSocketResponse, timeout: float) -> Any:
        """The next decoded frame; None when the socket closed; {} on timeout."""
        try:
            msg = await ws.receive(timeout=timeout)
        except TimeoutError:
            return {}
        if msg.type == aiohttp.WSMsgType.TEXT:
            return json.loads(msg.data)
        return None

    def _first(self, frame: dict[str, Any], resume: bool) -> None:
        since = self.seq
        you = frame.get("you", {})
        self.token = you.get("token", self.token)
        if frame.get("t") == "resume":
            events = frame.get("events", [])
            if events and events[0]["seq"] != since + 1:
                self.churn.bad_resumes += 1
            self.churn.resumed += 1
            self.seq = since
            self._follow(events)
            if self.seq != frame["seq"]:
                self.churn.bad_resumes += 1
        else:
            if resume:
                self.churn.resume_snapshots += 1
            self.epoch = frame.get("epoch")
            self.seq = int(frame.get("seq", 0))

    def _follow(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            seq = int(event["seq"])
            if seq <= self.seq:
                continue
            if seq != self.seq + 1:
                self.churn.gaps += 1
            self.seq = seq


# -- what the servers hold -------------------------------------------------------------------


@dataclass(frozen=True)
class NodeSample:
    proc: procstat.ProcSample
    tasks: int
    sessions: int
    pool: int  # the Redis pool's command connections, in use + idle

    def row(self) -> dict[str, Any]:
        fds = self.proc.fds
        return {
            "rss_mib": round(self.proc.rss / MiB, 1),
            "fds": self.proc.total_fds,
            **{f"fd_{kind}": fds.get(kind, 0) for kind in procstat.FD_KINDS},
            "redis_conns": self.proc.redis_conns,
            "pool": self.pool,
            "tasks": self.tasks,
            "sessions": self.sessions,
        }


async def sample_node(http: aiohttp.ClientSession, node: SoakNode, redis_port: int) -> NodeSample:
    async with http.get(f"{node.url}/api/stats") as resp:
        process = (await resp.json())["process"]
    pool = process["redis_pool"]
    return NodeSample(
        procstat.read(node.pid, redis_port),
        int(process["tasks"]),
        int(process["sessions"]),
        int(pool["in_use"]) + int(pool["idle"]),
    )


async def sample_all(http: aiohttp.ClientSession, cluster: Cluster) -> list[NodeSample]:
    return [await sample_node(http, n, cluster.redis_port) for n in cluster.nodes]


def redis_back(before: NodeSample, now: NodeSample) -> bool:
    """Whether the node's Redis connections are back: those outside the command pool
    (pub/sub) at most as many as ``before``, the pool within what it keeps for good
    (``MAX_IDLE``, or what it held before if more): two periodic loops that meet every
    second keep two connections warm, which the pool is meant to allow."""
    others_now = now.proc.redis_conns - now.pool
    others_before = before.proc.redis_conns - before.pool
    return others_now <= others_before and now.pool <= max(before.pool, MAX_IDLE)


def settled(before: NodeSample, now: NodeSample, fd_slack: int = 2) -> bool:
    """Whether ``now`` is back to ``before``: sessions and tasks at most as many, the
    Redis connections back (``redis_back``), fds at most ``fd_slack`` more."""
    return (
        now.sessions <= before.sessions
        and now.tasks <= before.tasks
        and redis_back(before, now)
        and now.proc.total_fds <= before.proc.total_fds + fd_slack
    )


def slope_mib_per_min(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of (seconds, RSS bytes) points, in MiB a minute (0 for < 2)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mr = sum(r for _, r in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    cov = sum((t - mt) * (r - mr) for t, r in points)
    return cov / var * 60 / MiB


@dataclass
class SoakResult:
    churn: Churn
    before: list[NodeSample]
    peak: list[NodeSample]
    after: list[NodeSample]
    max_rss: list[int]
    slope: list[float]  # MiB/min over the second half of the churn, per node
    settle_seconds: float
    memory: list[dict[str, Any]] = field(default_factory=list)  # --tracemalloc reports


async def create_room(http: aiohttp.ClientSession, cluster: Cluster) -> None:
    async with http.post(
        f"{cluster.nodes[0].url}/api/rooms",
        json={"id": ROOM, "title": "Churn soak", "host": "Soak"},
        headers={"Authorization": f"Bearer {cluster.admin}"},
    ) as resp:
        if resp.status not in (201, 409):
            raise RuntimeError(f"cannot create the room: {resp.status} {await resp.text()}")


async def run_churn(
    cluster: Cluster,
    plan: ChurnPlan,
    *,
    settle: float = 10.0,
    interval: float = 10.0,
    tracemalloc: bool = False,
    progress: bool = False,
) -> SoakResult:
    """Warm up, sample, churn for ``plan.seconds``, settle, sample; return it all."""
    raise_fd_limit()
    urls = [n.url for n in cluster.nodes]
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        await create_room(http, cluster)
        warm = ChurnPlan(viewers=min(20, plan.viewers), seconds=3.0, stay=(0.5, 1.5))
        await _churn(http, urls, warm, Churn())
        await asyncio.sleep(2.0)
        before = await sample_all(http, cluster)
        baselines: list[dict[str, Any]] = []
        if tracemalloc:
            for node in cluster.nodes:
                async with http.post(f"{node.url}/debug/memory/baseline") as resp:
                    resp.raise_for_status()
                async with http.get(f"{node.url}/debug/memory?top=0") as resp:
                    baselines.append(await resp.json())
        churn = Churn()
        stop = asyncio.Event()
        viewers = [_Viewer(http, urls, plan, churn) for _ in range(plan.viewers)]
        tasks = [asyncio.ensure_future(v.run(stop)) for v in viewers]
        started = time.monotonic()
        series: list[list[tuple[float, int]]] = [[] for _ in cluster.nodes]
        max_rss = [s.proc.rss for s in before]
        try:
            while (elapsed := time.monotonic() - started) < plan.seconds:
                await asyncio.sleep(min(interval, plan.seconds - elapsed))
                now = await sample_all(http, cluster)
                t = time.monotonic() - started
                for i, s in enumerate(now):
                    series[i].append((t, s.proc.rss))
                    max_rss[i] = max(max_rss[i], s.proc.rss)
                if progress:
                    rss = " ".join(f"{s.proc.rss / MiB:.1f}" for s in now)
                    print(
                        f"  {t:6.0f} s  connections {churn.connections:6d}  resumes "
                        f"{churn.resumes:5d}  sessions {sum(s.sessions for s in now):4d}  "
                        f"RSS MiB {rss}",
                        flush=True,
                    )
            peak = await sample_all(http, cluster)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        t0 = time.monotonic()
        deadline = t0 + settle
        while True:
            await asyncio.sleep(0.5)
            after = await sample_all(http, cluster)
            back = all(settled(b, a) for b, a in zip(before, after, strict=True))
            if back or time.monotonic() > deadline:
                break
        settle_seconds = time.monotonic() - t0
        memory: list[dict[str, Any]] = []
        if tracemalloc:
            for node in cluster.nodes:
                async with http.get(f"{node.url}/debug/memory?garbage=1&top=25") as resp:
                    mem = await resp.json()
                async with http.get(f"{node.url}/debug/memory?trim=1&top=0") as resp:
                    mem["after_trim"] = await resp.json()
                mem["baseline"] = baselines[len(memory)]
                memory.append(mem)
    half = plan.seconds / 2
    slope = [slope_mib_per_min([p for p in s if p[0] >= half]) for s in series]
    return SoakResult(churn, before, peak, after, max_rss, slope, settle_seconds, memory)


async def _churn(
    http: aiohttp.ClientSession, urls: list[str], plan: ChurnPlan, churn: Churn
) -> None:
    stop = asyncio.Event()
    viewers = [_Viewer(http, urls, plan, churn) for _ in range(plan.viewers)]
    tasks = [asyncio.ensure_future(v.run(stop)) for v in viewers]
    await asyncio.sleep(plan.seconds)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)


# -- the report ------------------------------------------------------------------------------

COLUMNS = (
    "rss_mib", "fds", "fd_socket", "fd_pipe", "fd_anon_inode", "fd_file",
    "redis_conns", "pool", "tasks", "sessions",
)  # fmt: skip


def report(result: SoakResult) -> str:
    """The tables and the churn's figures as text."""
    c = result.churn
    lines = [
        f"churn: {c.connections} connections, {c.resumes} resumes ({c.resumed} exact, "
        f"{c.resume_snapshots} answered with a snapshot), {c.chats} chats, {c.gaps} gaps, "
        f"{c.bad_resumes} bad resumes, {c.failures} failures",
        f"settled in {result.settle_seconds:.1f} s",
    ]
    lines += [f"  error: {e}" for e in c.errors]
    for i, (b, p, a) in enumerate(zip(result.before, result.peak, result.after, strict=True)):
        lines.append("")
        lines.append(
            f"node {i}: max RSS {result.max_rss[i] / MiB:.1f} MiB, second-half slope "
            f"{result.slope[i]:+.2f} MiB/min"
        )
        lines.append(f"  {'':8}" + "".join(f"{col:>14}" for col in COLUMNS))
        for label, s in (("before", b), ("peak", p), ("after", a)):
            row = s.row()
            lines.append(f"  {label:8}" + "".join(f"{row[col]:>14}" for col in COLUMNS))
    for i, mem in enumerate(result.memory):
        lines += _memory_lines(i, mem)
    return "\n".join(lines)


def _heap(mem: dict[str, Any]) -> str:
    malloc = mem.get("malloc", {})
    return (
        f"RSS {mem['rss'] / MiB:.1f} MiB, traced {mem['traced'] / MiB:.1f} MiB, malloc in use "
        f"{malloc.get('in_use', 0) / MiB:.1f} MiB, free in heap {malloc.get('free', 0) / MiB:.1f}"
        f" MiB, pymalloc blocks {mem['blocks']}, gc objects {mem['gc']['objects']}"
    )


def _memory_lines(i: int, mem: dict[str, Any]) -> list[str]:
    """One node's ``--tracemalloc`` figures: the heap at the baseline and after the churn
    (before and after a full collection, then after ``malloc_trim``) and the top sites."""
    lines = [
        "",
        f"node {i} tracemalloc (traced peak {mem['traced_peak'] / MiB:.1f} MiB)",
        f"  at the baseline:        {_heap(mem['baseline'])}",
        f"  after, collected:       {_heap(mem)}",
        f"  cyclic garbage found:   {mem['collected']} objects: {mem['garbage']}",
        f"  after malloc_trim(0):   {_heap(mem['after_trim'])}",
    ]
    for top in mem["top"][:15]:
        where = " <- ".join(top["where"])
        lines.append(f"  {top['size_diff'] / 1024:+9.1f} KiB {top['count_diff']:+7d}  {where}")
    return lines


async def main(args: argparse.Namespace) -> int:
    plan = ChurnPlan(
        viewers=args.viewers,
        seconds=args.seconds,
        stay=(args.stay_min, args.stay_max),
        resume_share=args.resume,
        chat_share=args.chat,
    )
    with soak_servers(args.nodes, tracemalloc=args.tracemalloc) as cluster:
        print(
            f"soak: {args.nodes} nodes, {plan.viewers} viewers churning for "
            f"{plan.seconds:.0f} s (stay {plan.stay[0]}-{plan.stay[1]} s, "
            f"{plan.resume_share:.0%} resume, {plan.chat_share:.0%} chat)",
            flush=True,
        )
        result = await run_churn(
            cluster,
            plan,
            settle=args.settle,
            interval=args.interval,
            tracemalloc=bool(args.tracemalloc),
            progress=True,
        )
    print(report(result))
    bad = result.churn.gaps or result.churn.bad_resumes
    return 1 if bad else 0


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--viewers", type=int, default=300)
    p.add_argument("--seconds", type=float, default=300.0, help="how long the churn lasts")
    p.add_argument("--nodes", type=int, default=2)
    p.add_argument("--stay-min", type=float, default=1.0, help="shortest visit, seconds")
    p.add_argument("--stay-max", type=float, default=10.0, help="longest visit, seconds")
    p.add_argument("--resume", type=float, default=0.33, help="share of returns that resume")
    p.add_argument("--chat", type=float, default=0.3, help="share of visits that chat once")
    p.add_argument("--settle", type=float, default=10.0, help="seconds to wait for settling")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    p.add_argument("--tracemalloc", type=int, default=0, help="frames (LIVECART_TRACEMALLOC)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description="viewers joining and leaving; memory, fds, tasks, Redis",
    )
    _arguments(parser)
    raise SystemExit(asyncio.run(main(parser.parse_args())))
