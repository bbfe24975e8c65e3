"""Preparing the show for a load test, through the server's HTTP API, and finding the
server's processes on this machine.

The room (created with the admin token when missing), products in the lineup for
"explain this", the flash sale (a product with stock, pinned, a sale with a countdown;
or an existing sale), a synthetic video publisher, and the processes listening on the
target's port so that their CPU and memory can be sampled.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from livecart.loadtest.target import ApiError, Target


class SetupError(RuntimeError):
    """The show could not be prepared (exit code 2)."""


def token_of(args: argparse.Namespace) -> str | None:
    return args.host_token or args.admin_token or None


def prepare_room(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    """The room's snapshot; the room is created when missing and an admin token is given."""
    path = target.room_path(args.room)
    try:
        return dict(target.get(path))
    except ApiError as exc:
        if exc.status != 404:
            raise
    if not args.admin_token:
        raise SetupError(f"room {args.room!r} does not exist (pass --admin-token to create it)")
    created = target.post(
        "/api/rooms",
        {"id": args.room, "title": "Load test", "host": "loadtest"},
        args.admin_token,
    )
    if not args.host_token:
        args.host_token = created["host_token"]
    return dict(target.get(path))


def _host(target: Target, room: str, token: str, cmd: dict[str, Any]) -> dict[str, Any]:
    reply = target.post(target.room_path(room, "/commands"), cmd, token)
    return dict(reply["data"])


def add_products(target: Target, room: str, token: str, n: int) -> list[str]:
    """Products in the lineup for "explain this" (no stock)."""
    ids = []
    for k in range(n):
        product = _host(
            target,
            room,
            token,
            {
                "cmd": "add_product",
                "name": f"Item {k + 1}",
                "price": 1990 + 1000 * k,
                "currency": "CNY",
                "image_url": "/static/img/item.png",
                "stock": 0,
            },
        )
        ids.append(product["product"]["id"])
    return ids


def open_sale(
    target: Target, args: argparse.Namespace, token: str, opens_at_ms: int
) -> dict[str, Any]:
    """Add a product with ``--units`` in stock, pin it and open a sale with a countdown
    to ``opens_at_ms``; or take the existing sale of ``--product``."""
    if args.product:
        snap = target.get(target.room_path(args.room))
        sale = (snap.get("sales") or {}).get(args.product)
        if not sale or sale.get("state") == "closed":
            raise SetupError(f"product {args.product!r} has no open or scheduled sale")
        figures = target.get(target.room_path(args.room, "/figures"), token)
        return {
            "product_id": args.product,
            "units": int(sale["units"]),
            "opens_at": sale.get("opens_at"),
            "created": False,
            "stock": (figures.get("stock") or {}).get(args.product),
        }
    product = _host(
        target,
        args.room,
        token,
        {
            "cmd": "add_product",
            "name": "Flash deal",
            "price": args.price,
            "currency": args.currency,
            "image_url": "/static/img/deal.png",
            "stock": args.units,
        },
    )
    pid = product["product"]["id"]
    _host(target, args.room, token, {"cmd": "pin", "product_id": pid})
    data = _host(
        target,
        args.room,
        token,
        {
            "cmd": "open_sale",
            "product_id": pid,
            "price": args.price,
            "currency": args.currency,
            "units": args.units,
            "limit": args.limit,
            "opens_at": opens_at_ms,
        },
    )
    return {
        "product_id": pid,
        "units": args.units,
        "opens_at": data["sale"]["opens_at"],
        "created": True,
    }


class Publisher:
    """A synthetic host publishing video to the room during the run (``--publish``)."""

    def __init__(self, ctx: Any, target: Target, args: argparse.Namespace, seconds: float) -> None:
        from livecart.loadtest.publisher import publisher_main

        token = token_of(args)
        if not token:
            raise SetupError("--publish needs --host-token or --admin-token")
        self.pipe, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=publisher_main,
            args=(target.base, args.room, token, seconds, child),
            daemon=True,
        )
        self.proc.start()
        child.close()

    def wait_live(self) -> str:
        """Wait up to 60 s for the publisher to go live; a line for the report saying what it
        publishes. Raises ``SetupError`` when it does not start or fails."""
        if not self.pipe.poll(60):
            raise SetupError("the video publisher did not start in 60 s")
        answer = self.pipe.recv()
        if not answer.get("ok"):
            raise SetupError(f"the video publisher failed: {answer.get('error')}")
        return "a synthetic host published 640x360 H.264 + Opus over WHIP during the run"

    def stop(self) -> None:
        """Tell the publisher to stop, wait up to 10 s for it to end (then terminate it), and
        close the pipe."""
        with contextlib.suppress(OSError):
            self.pipe.send({"kind": "stop"})
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        self.pipe.close()


def server_processes(target: Target) -> list[Any]:
    """The processes listening on the target's port, when it is on this machine."""
    try:
        import psutil
    except ImportError:  # pragma: no cover
        return []
    if target.host not in ("127.0.0.1", "::1") and not target.host.startswith("127."):
        return []
    pids = set()
    with contextlib.suppress(psutil.Error, OSError):
        for c in psutil.net_connections(kind="tcp"):
            listening = c.status == psutil.CONN_LISTEN and c.laddr and c.pid
            if listening and c.laddr.port == target.port:
                pids.add(c.pid)
    procs = []
    for pid in sorted(pids):
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(pid))
    return procs


def cpu_of(procs: list[Any]) -> float:
    total = 0.0
    for p in procs:
        with contextlib.suppress(Exception):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def rss_of(procs: list[Any]) -> int:
    total = 0
    for p in procs:
        with contextlib.suppress(Exception):
            total += p.memory_info().rss
    return total
