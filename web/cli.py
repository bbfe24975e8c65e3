"""``livecart serve``, the server's part of the command line (``livecart.cli`` composes it).

- ``livecart serve``: one node (or ``--workers N`` processes sharing the port). Without
  ``REDIS_URL`` it starts a private redis-server with its data under ``--data-dir``
  (AOF ``appendfsync always``) and stops it on exit.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from livecart.addresses import parse_networks
from livecart.origins import parse_origins
from livecart.web import log_format
from livecart.web.config import Config
from livecart.web.log_format import FORMATS


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    env = Config.from_env()
    p = sub.add_parser("serve", help="run a livecart node")
    p.add_argument("--host", default=env.host)
    p.add_argument("--port", type=int, default=env.port)
    p.add_argument("--redis-url", default=env.redis_url, help="default: a private redis-server")
    p.add_argument("--data-dir", type=Path, default=env.data_dir)
    p.add_argument("--admin-token", default=env.admin_token)
    p.add_argument("--public-url", default=env.public_url)
    p.add_argument("--ice-hosts", default=",".join(env.ice_hosts))
    p.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    p.add_argument("--node-name", default=env.node_name, help="this node's name in /healthz")
    p.add_argument("--no-demo", action="store_true", help="do not create the demo room")
    p.add_argument(
        "--log-format",
        choices=FORMATS,
        default=env.log_format if env.log_format in FORMATS else "text",
        help="text, or json: one JSON object a line on stderr (default: text)",
    )
    p.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        default=env.access_log,
        help="no livecart.access line per HTTP request",
    )
    p.add_argument(
        "--trusted-proxies",
        default=",".join(env.trusted_proxies),
        help="comma-separated CIDRs of proxies whose X-Forwarded-For is believed",
    )
    p.add_argument(
        "--max-sockets-per-address",
        type=int,
        default=env.max_sockets_per_address,
        help="WebSockets one client address may hold per process (0: no cap; default 100)",
    )
    p.add_argument(
        "--allowed-origins",
        default=",".join(env.allowed_origins),
        help="origins besides the same origin that may open /ws (comma separated; * any)",
    )
    p.add_argument(
        "--handshake-timeout",
        type=float,
        default=env.handshake_timeout,
        help="seconds to a complete request head (default 10)",
    )
    p.add_argument(
        "--address-chat-rate",
        type=float,
        default=env.address_chat_rate,
        help="chat messages a second per client address over all its sockets (0: off)",
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
    config.demo = not args.no_demo
    config.log_format = args.log_format
    config.access_log = args.access_log
    config.trusted_proxies = tuple(c for c in args.trusted_proxies.split(",") if c.strip())
    config.max_sockets_per_address = max(0, args.max_sockets_per_address)
    config.allowed_origins = tuple(o for o in args.allowed_origins.split(",") if o.strip())
    config.handshake_timeout = args.handshake_timeout
    config.address_chat_rate = max(0.0, args.address_chat_rate)
    parse_networks(config.trusted_proxies)  # a bad CIDR stops here, before anything starts
    parse_origins(config.allowed_origins)
    return config


def _configure_logs(config: Config, worker: int | None) -> None:
    log_format.configure(
        config.log_format,
        node=config.node_name,
        worker=worker,
        secrets=(config.admin_token, config.webhook_secret),
        access_log=config.access_log,
    )


def _worker(config: Config, sock: socket.socket | None, announce: bool) -> None:
    import uvloop
    from aiohttp import web

    from livecart.web import gc_tuning
    from livecart.web.app import create_app, runner_options
    from livecart.web.demo import announce_on_startup
    from livecart.web.request_log import AccessLogger

    _configure_logs(config, config.worker)
    app = create_app(config)
    if announce:
        app.on_startup.append(announce_on_startup)
    access: dict[str, Any] = {
        "access_log_class": AccessLogger,
        "access_log": logging.getLogger(log_format.ACCESS_LOGGER),
    }
    runner = runner_options(config)
    gc_tuning.tune()
    uvloop.install()
    if sock is not None:
        web.run_app(app, sock=sock, print=None, handle_signals=True, **access, **runner)
    else:
        web.run_app(
            app,
            host=config.host,
            port=config.port,
            print=None,
            reuse_port=True,
            backlog=4096,
            **access,
            **runner,
        )


def _die_with_parent() -> None:
    """Linux: have the kernel send SIGTERM to this worker if the supervisor dies, so a
    killed ``livecart serve --workers N`` never leaves workers holding the port."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _forked_worker(
    config: Config, sock: socket.socket, siblings: list[socket.socket], announce: bool
) -> None:
    os.setpgrp()  # terminal signals go to the supervisor, which tells each worker once
    _die_with_parent()
    for other in siblings:  # only its own socket stays open here (see _listening_sockets)
        if other is not sock:
            other.close()
    _worker(config, sock, announce)


def _listening_sockets(host: str, port: int, n: int) -> list[socket.socket]:
    """``n`` sockets listening on one port with ``SO_REUSEPORT``, one per worker.

    The kernel spreads new connections over them by a hash of each connection's
    addresses, so every worker gets its share even when the machine is idle (one socket
    shared by all workers hands most connections to whichever worker wakes first). Each
    socket is open only in its own worker once the workers started: when a worker dies
    its socket closes and the kernel hashes over the remaining ones."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(4096)
            sock.set_inheritable(True)
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


def _run_workers(config: Config) -> None:
    """Fork ``config.workers`` processes, each with its own listening socket on the port
    (``_listening_sockets``), and supervise them: SIGTERM or SIGINT to the supervisor
    stops every worker gracefully (SIGKILL after 15 s), and the supervisor returns once
    all have exited. The workers share their metrics through a temporary directory
    made here and removed at the end (``livecart.web.metrics``)."""
    socks = _listening_sockets(config.host, config.port, config.workers)
    metrics_dir = Path(tempfile.mkdtemp(prefix="livecart-metrics-"))  # fresh for the run
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(
            target=_forked_worker,
            args=(replace(config, worker=i, metrics_dir=metrics_dir), socks[i], socks, i == 0),
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
        shutil.rmtree(metrics_dir, ignore_errors=True)


def serve(config: Config) -> int:
    """Run ``livecart serve``; the process's own lines (before and around its workers)
    are logged in ``config.log_format`` too, with no worker index when there are
    several workers."""
    _configure_logs(config, None if config.workers > 1 else config.worker)
    redis_proc = None
    if not config.redis_url:
        from livecart.redis_process import RedisProcess, RedisStartError

        redis_proc = RedisProcess(config.data_dir / "redis")
        try:
            redis_proc.start()
        except RedisStartError as exc:
            logging.getLogger("livecart").error("cannot start the private Redis: %s", exc)
            return 1
        config.redis_url = redis_proc.url
        print(f"Private Redis at {redis_proc.url} (data in {redis_proc.data_dir}, AOF always)")
    try:
        if config.workers == 1:
            _worker(config, None, announce=True)
        else:
            _run_workers(config)
    finally:
        if redis_proc is not None:
            redis_proc.stop()
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``livecart serve`` to the ``livecart`` command line (see ``livecart.cli``)."""
    _serve_parser(sub)
