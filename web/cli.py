"""``livecart serve``, the server's part of the command line (``livecart.cli`` composes it).

- ``livecart serve``: one node (or ``--workers N`` processes sharing the port). Without
  ``REDIS_URL`` it starts a private redis-server with its data under ``--data-dir``
  (AOF ``appendfsync always``) and stops it on exit. One ``serve`` per data dir
  (``web.data_dir_lock``) and per port (``web.listen_sockets``); its banner
  (``web.start_banner``) is the last thing it prints at start. Every flag's help names
  its environment variable and its default (``web.config`` has the table).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import replace
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from livecart.addresses import parse_networks
from livecart.origins import parse_origins
from livecart.web import log_format
from livecart.web.config import METRICS_ALLOW, Config
from livecart.web.data_dir_lock import DataDirBusy, DataDirLock
from livecart.web.listen_sockets import PortBusy, listening_sockets
from livecart.web.log_format import FORMATS

if TYPE_CHECKING:
    from aiohttp import web


def _help(text: str, env: str, default: str) -> str:
    """A flag's help: what it does, then ``(env NAME, default VALUE)``."""
    return f"{text} (env {env}, default {default})"


ENV_ONLY = """\
environment only:
  LIVECART_CLOCK_OFFSET      seconds added to this node's wall clock where checkout
                             reads it (holds, sales), to test clock skew (default 0)
  LIVECART_WEBHOOK_URL, LIVECART_WEBHOOK_SECRET
                             the fulfilment webhook and its signing secret (default none)
  LIVECART_REPLAY_RETENTION  seconds a show's event log is kept (default 2592000: 30 days)
  LIVECART_WS_HEARTBEAT      seconds of silence before a chat socket is pinged (default 30)

One serve per data dir (it holds <data-dir>/livecart.lock) and per port: a second one
exits at once, naming the process that has them.
"""


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    env = Config.from_env()
    p = sub.add_parser(
        "serve",
        help="run a livecart node",
        description="Run a livecart node. Every flag falls back to its environment variable.",
        epilog=ENV_ONLY,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--host", default=env.host, help=_help("address to listen on", "LIVECART_HOST", "127.0.0.1")
    )
    p.add_argument(
        "--port", type=int, default=env.port, help=_help("TCP port", "LIVECART_PORT", "8080")
    )
    p.add_argument(
        "--redis-url",
        default=env.redis_url,
        help=_help(
            "Redis or Redis Cluster", "REDIS_URL", "none: a private redis-server in --data-dir"
        ),
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=env.data_dir,
        help=_help(
            "the private Redis' files and recordings; one serve at a time",
            "LIVECART_DATA_DIR",
            "./data",
        ),
    )
    p.add_argument(
        "--admin-token",
        default=env.admin_token,
        help=_help(
            "the admin API's token (also a host token in every studio)",
            "LIVECART_ADMIN_TOKEN",
            "generated once, kept in Redis",
        ),
    )
    p.add_argument(
        "--public-url",
        default=env.public_url,
        help=_help("the URL people reach", "LIVECART_PUBLIC_URL", "http://HOST:PORT"),
    )
    p.add_argument(
        "--ice-hosts",
        default=",".join(env.ice_hosts),
        help=_help("WebRTC host candidates, comma separated", "LIVECART_ICE_HOSTS", "none"),
    )
    p.add_argument(
        "--workers",
        type=int,
        default=env.workers,
        help=_help("processes sharing the port", "LIVECART_WORKERS", "1"),
    )
    p.add_argument(
        "--node-name",
        default=env.node_name,
        help=_help("this node's name in /healthz", "LIVECART_NODE_NAME", "the host name"),
    )
    p.add_argument(
        "--no-demo",
        dest="demo",
        action="store_false",
        default=env.demo,
        help=_help("do not create the demo room", "LIVECART_DEMO=0", "1: create it"),
    )
    p.add_argument(
        "--holds-per-address",
        type=int,
        default=env.holds_per_address,
        help=_help(
            "most unpaid purchases per client address and sale (0: no cap)",
            "LIVECART_HOLDS_PER_ADDRESS",
            "3",
        ),
    )
    p.add_argument(
        "--buyer-jwt-key",
        default=env.buyer_jwt_key,
        help=_help(
            "HS256 secret of the shop's buyer tokens (prefer the variable)",
            "LIVECART_BUYER_JWT_KEY",
            "none: buyers need no token",
        ),
    )
    p.add_argument(
        "--buyer-jwt-public-key",
        type=Path,
        default=None,
        help=_help(
            "PEM file: RS256/ES256 public key of the shop's buyer tokens",
            "LIVECART_BUYER_JWT_PUBLIC_KEY",
            "none",
        ),
    )
    p.add_argument(
        "--buyer-jwt-audience",
        default=env.buyer_jwt_audience,
        help=_help(
            "the aud buyer tokens must carry",
            "LIVECART_BUYER_JWT_AUDIENCE",
            "none: aud not checked",
        ),
    )
    p.add_argument(
        "--buyer-jwt-issuer",
        default=env.buyer_jwt_issuer,
        help=_help(
            "the iss buyer tokens must carry", "LIVECART_BUYER_JWT_ISSUER", "none: iss not checked"
        ),
    )
    p.add_argument(
        "--redis-maxmemory",
        default=env.redis_maxmemory,
        help=_help(
            "maxmemory of the private Redis, noeviction (0: none)",
            "LIVECART_REDIS_MAXMEMORY",
            "512mb",
        ),
    )
    p.add_argument(
        "--log-format",
        choices=FORMATS,
        default=env.log_format if env.log_format in FORMATS else "text",
        help=_help(
            "text, or json: one JSON object a line on stderr", "LIVECART_LOG_FORMAT", "text"
        ),
    )
    p.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        default=env.access_log,
        help=_help("no livecart.access line per HTTP request", "LIVECART_ACCESS_LOG=0", "1: on"),
    )
    p.add_argument(
        "--metrics-allow",
        default=",".join(env.metrics_allow),
        help=_help(
            "CIDRs whose clients read /metrics without the admin token (*: anyone,"
            " none: the token only)",
            "LIVECART_METRICS_ALLOW",
            ",".join(METRICS_ALLOW),
        ),
    )
    p.add_argument(
        "--trusted-proxies",
        default=",".join(env.trusted_proxies),
        help=_help(
            "comma-separated CIDRs of proxies whose X-Forwarded-For is believed",
            "LIVECART_TRUSTED_PROXIES",
            "none",
        ),
    )
    p.add_argument(
        "--max-sockets-per-address",
        type=int,
        default=env.max_sockets_per_address,
        help=_help(
            "WebSockets one client address may hold per process (0: no cap)",
            "LIVECART_MAX_SOCKETS_PER_ADDRESS",
            "100",
        ),
    )
    p.add_argument(
        "--allowed-origins",
        default=",".join(env.allowed_origins),
        help=_help(
            "origins besides the same origin that may open /ws (comma separated; * any)",
            "LIVECART_ALLOWED_ORIGINS",
            "none",
        ),
    )
    p.add_argument(
        "--handshake-timeout",
        type=float,
        default=env.handshake_timeout,
        help=_help("seconds to a complete request head", "LIVECART_HANDSHAKE_TIMEOUT", "10"),
    )
    p.add_argument(
        "--address-chat-rate",
        type=float,
        default=env.address_chat_rate,
        help=_help(
            "chat messages a second per client address over all its sockets (0: off)",
            "LIVECART_ADDRESS_CHAT_RATE",
            "2",
        ),
    )
    p.set_defaults(handler=lambda args: serve(_config(args)))


def _config(args: argparse.Namespace) -> Config:
    config = Config.from_env()
    config.host = args.host
    config.port = args.port
    config.redis_url = args.redis_url
    config.data_dir = args.data_dir
    config.admin_token = args.admin_token
    config.public_url = args.public_url
    config.ice_hosts = tuple(h for h in args.ice_hosts.split(",") if h)
    config.workers = max(1, args.workers)
    config.node_name = args.node_name
    config.demo = args.demo
    config.metrics_allow = tuple(a for a in args.metrics_allow.split(",") if a.strip())
    from livecart.web.metrics_access import MetricsAccess

    MetricsAccess.parse(config.metrics_allow)  # a bad CIDR stops here too
    config.log_format = args.log_format
    config.access_log = args.access_log
    config.trusted_proxies = tuple(c for c in args.trusted_proxies.split(",") if c.strip())
    config.max_sockets_per_address = max(0, args.max_sockets_per_address)
    config.allowed_origins = tuple(o for o in args.allowed_origins.split(",") if o.strip())
    config.handshake_timeout = args.handshake_timeout
    config.address_chat_rate = max(0.0, args.address_chat_rate)
    parse_networks(config.trusted_proxies)  # a bad CIDR stops here, before anything starts
    parse_origins(config.allowed_origins)
    config.holds_per_address = args.holds_per_address
    config.buyer_jwt_key = args.buyer_jwt_key
    if args.buyer_jwt_public_key is not None:
        config.buyer_jwt_public_key = args.buyer_jwt_public_key.read_text(encoding="ascii")
    config.buyer_jwt_audience = args.buyer_jwt_audience
    config.buyer_jwt_issuer = args.buyer_jwt_issuer
    config.redis_maxmemory = args.redis_maxmemory
    return config


def _configure_logs(config: Config, worker: int | None) -> None:
    log_format.configure(
        config.log_format,
        node=config.node_name,
        worker=worker,
        secrets=(config.admin_token, config.webhook_secret, config.buyer_jwt_key),
        access_log=config.access_log,
    )


Started: TypeAlias = "Callable[[web.Application], Awaitable[None]]"
"""Called last at a worker's start (every other start-up hook has run)."""


def _worker(config: Config, sock: socket.socket, started: Started) -> None:
    import uvloop
    from aiohttp import web

    from livecart.web import gc_tuning
    from livecart.web.app import create_app, runner_options
    from livecart.web.request_log import AccessLogger

    _configure_logs(config, config.worker)
    app = create_app(config)
    app.on_startup.append(started)
    access: dict[str, Any] = {
        "access_log_class": AccessLogger,
        "access_log": logging.getLogger(log_format.ACCESS_LOGGER),
    }
    runner = runner_options(config)
    gc_tuning.tune()
    uvloop.install()
    web.run_app(app, sock=sock, print=None, handle_signals=True, **access, **runner)


def _die_with_parent() -> None:
    """Linux: have the kernel send SIGTERM to this worker if the supervisor dies, so a
    killed ``livecart serve --workers N`` never leaves workers holding the port."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _forked_worker(
    config: Config,
    sock: socket.socket,
    siblings: list[socket.socket],
    ready: multiprocessing.connection.Connection,
) -> None:
    from livecart.web.start_banner import app_lines

    os.setpgrp()  # terminal signals go to the supervisor, which tells each worker once
    _die_with_parent()
    for other in siblings:  # only its own socket stays open here (see listen_sockets)
        if other is not sock:
            other.close()

    async def started(app: web.Application) -> None:
        """Worker 0 sends the banner's lines, the others an empty text: all started."""
        ready.send("\n".join(await app_lines(app)) if config.worker == 0 else "")
        ready.close()

    _worker(config, sock, started)


def _banner_when_started(
    procs: list[BaseProcess], readers: list[multiprocessing.connection.Connection], tail: str
) -> None:
    """Print the banner (worker 0's lines and ``tail``) once every worker has said it
    started; print nothing if a worker exits first."""
    banner = ""
    waiting = {reader: proc for reader, proc in zip(readers, procs, strict=True)}
    while waiting:
        sentinels = [proc.sentinel for proc in waiting.values()]
        for got in multiprocessing.connection.wait([*waiting, *sentinels]):
            if isinstance(got, int):
                return  # a worker ended before it started: no banner
            assert isinstance(got, multiprocessing.connection.Connection)
            try:
                banner = got.recv() or banner
            except EOFError:
                return
            del waiting[got]
    print(f"{banner}\n{tail}", flush=True)


def _run_workers(config: Config, socks: list[socket.socket], tail: str) -> None:
    """Fork ``config.workers`` processes, each with its own listening socket of
    ``socks`` (``web.listen_sockets``), print the banner once all have started, and
    supervise them: SIGTERM or SIGINT to the supervisor stops every worker gracefully
    (SIGKILL after 15 s), and the supervisor returns once all have exited. The workers
    share their metrics through a temporary directory made here and removed at the end
    (``livecart.web.metrics``)."""
    metrics_dir = Path(tempfile.mkdtemp(prefix="livecart-metrics-"))  # fresh for the run
    ctx = multiprocessing.get_context("fork")
    pipes = [ctx.Pipe(duplex=False) for _ in range(config.workers)]
    procs: list[BaseProcess] = [
        ctx.Process(
            target=_forked_worker,
            args=(replace(config, worker=i, metrics_dir=metrics_dir), socks[i], socks, pipes[i][1]),
            daemon=False,
        )
        for i in range(config.workers)
    ]
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        for proc in procs:
            if proc.pid and proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for proc in procs:
            proc.start()
        for sock in socks:  # each is open in its worker alone now
            sock.close()
        for _, writer in pipes:
            writer.close()
        _banner_when_started(procs, [reader for reader, _ in pipes], tail)
        for proc in procs:
            proc.join()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        stop(signal.SIGTERM, None)
        for proc in procs:
            proc.join(15)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for sock in socks:
            sock.close()
        for reader, _ in pipes:
            reader.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def serve(config: Config) -> int:
    """Run ``livecart serve``; returns its exit status.

    In this order, before anything is printed on stdout: take the data dir's lock
    (``web.data_dir_lock``), bind the port (``web.listen_sockets``), start the private
    Redis unless ``config.redis_url`` (``livecart.redis_process``; a Redis a killed
    owner left running is stopped, which only the lock's holder may do), then the
    workers. A data dir or port another process holds, or a port that cannot be bound,
    ends it at once with status 1 and one log line naming the other process. The banner
    (``web.start_banner``) is the last thing it prints at start. The process's own lines
    (before and around its workers) are logged in ``config.log_format`` too, with no
    worker index when there are several workers."""
    _configure_logs(config, None if config.workers > 1 else config.worker)
    log = logging.getLogger("livecart")
    lock = DataDirLock(config.data_dir)
    try:
        lock.acquire(f"http://{config.host}:{config.port}")
        socks = listening_sockets(config.host, config.port, config.workers)
    except (DataDirBusy, PortBusy) as exc:
        log.error("%s", exc)
        lock.release()
        return 1
    except OSError as exc:
        log.error("cannot listen on %s port %s: %s", config.host, config.port, exc)
        lock.release()
        return 1
    try:
        return _serve_locked(config, socks, log)
    finally:
        for sock in socks:
            sock.close()
        lock.release()


def _serve_locked(config: Config, socks: list[socket.socket], log: logging.Logger) -> int:
    redis_proc = None
    if not config.redis_url:
        from livecart.redis_process import RedisProcess, RedisStartError

        redis_proc = RedisProcess(config.data_dir / "redis", maxmemory=config.redis_maxmemory)
        try:
            redis_proc.start()
        except RedisStartError as exc:
            log.error("cannot start the private Redis: %s", exc)
            return 1
        config.redis_url = redis_proc.url
        log.info(
            "private Redis at %s (data in %s, AOF always, maxmemory %s noeviction)",
            redis_proc.url,
            redis_proc.data_dir,
            config.redis_maxmemory,
        )
    from livecart.web.start_banner import app_lines, data_line

    tail = data_line(config.data_dir, private_redis=redis_proc is not None)
    try:
        if config.workers == 1:

            async def started(app: web.Application) -> None:
                print("\n".join([*await app_lines(app), tail]), flush=True)

            _worker(config, socks[0], started)
        else:
            _run_workers(config, socks, tail)
    finally:
        if redis_proc is not None:
            redis_proc.stop()
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``livecart serve`` to the ``livecart`` command line (see ``livecart.cli``)."""
    _serve_parser(sub)
