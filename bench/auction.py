"""``python -m bench --scenario auction``: the operator's auction load test
(``livecart loadtest --scenario auction``, :mod:`livecart.loadtest.auction_storm`) against
a server of this benchmark's own, with Redis' fsync stalls beside the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
from dataclasses import dataclass

import redis

from bench.localserver import local_server
from livecart.loadtest import auction_storm, runner
from livecart.loadtest.target import Target
from livecart.redis_internals import sync_command

TARGET_P99_MS = 250.0
FSYNC_THRESHOLD_MS = 10  # Redis' latency monitor: fsyncs slower than this are recorded


def main(args: argparse.Namespace) -> int:
    """``python -m bench --scenario auction``: the load test against a server of its own
    (private Redis with ``appendfsync always``), goal ``bid_p99<250ms``."""

    with contextlib.ExitStack() as stack:
        if args.url:
            url, admin = Target.parse(args.url).base, args.admin_token
        else:
            server = stack.enter_context(
                local_server(appendfsync=args.appendfsync, workers=args.server_workers)
            )
            url, admin = server.base, server.admin
        parser = argparse.ArgumentParser(prog="livecart")
        runner.add_parser(parser.add_subparsers())
        argv = ["loadtest", "--url", url, "--room", "auction-" + secrets.token_hex(3),
                "--scenario", "auction", "--viewers", str(args.viewers),
                "--bidders", str(args.bidders), "--duration", "6", "--storm", "2",
                "--counter", "1", "--procs", str(args.procs or 2), "--settle", "15",
                "--slo", f"bid_p99<{TARGET_P99_MS:g}ms", "--seed", "1", "--quiet",
                "--out", ""]  # fmt: skip
        if admin:
            argv += ["--admin-token", admin]
        print(f"auction: {args.viewers} viewers, {args.bidders} bidders...", flush=True)
        watch = None if args.url else FsyncWatch.start(server.redis_url)
        rep, code = auction_storm.run_and_print(parser.parse_args(argv))
        if watch is not None:
            print(watch.report(since=rep["auction_started_unix"]), flush=True)
        return code


@dataclass
class FsyncWatch:
    """Redis' own latency monitor on the benchmark's private Redis: with ``appendfsync
    always`` Redis fsyncs its AOF in its main thread before it answers a write, so a
    slow fsync of the disk stalls every command for as long (``aof-fsync-always``)."""

    url: str
    threshold_ms: int = FSYNC_THRESHOLD_MS

    @classmethod
    def start(cls, url: str) -> FsyncWatch:
        watch = cls(url)
        with contextlib.closing(redis.Redis.from_url(url)) as client:
            client.config_set("latency-monitor-threshold", watch.threshold_ms)
            sync_command(client, "LATENCY", "RESET")
        return watch

    def stalls(self, event: str = "aof-fsync-always", since: float = 0.0) -> list[int]:
        """The stalls (ms) of ``event`` Redis recorded since ``start`` (the fsyncs by
        default) in the seconds from ``since`` (Unix time) on, at most one per second."""
        with contextlib.closing(redis.Redis.from_url(self.url)) as client:
            history = sync_command(client, "LATENCY", "HISTORY", event)
        return [int(ms) for at, ms in history or [] if int(at) >= int(since)]

    def report(self, since: float = 0.0) -> str:
        """One line: the fsync stalls from ``since`` (the auction's start) on."""
        try:
            stalls = self.stalls(since=since)
        except redis.RedisError as exc:
            return f"  Redis fsync stalls: not read ({exc})"
        worst = f", worst {max(stalls):,} ms" if stalls else ""
        return (
            f"  Redis AOF fsync (appendfsync always) over {self.threshold_ms} ms during the "
            f"auction: {len(stalls)} second(s){worst} (Redis' LATENCY monitor: every command "
            f"waits for it)"
        )
