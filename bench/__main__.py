"""``python -m bench``: one benchmark run, its figures printed (``make bench`` runs many).

``--scenario chat`` (the default) is one room, N viewers and R chat messages a second
(:mod:`bench.chat_fanout`); ``join-storm`` opens every viewer's socket within one second
(:mod:`bench.join_storm`); ``flash-sale`` has N viewers press buy within one second
(:mod:`bench.flash_sale`); ``reserve`` measures the checkout service alone
(:mod:`bench.reserve`); ``auction`` is the operator's auction load test on a server of
its own (:mod:`bench.auction`). Each starts its own Redis and server unless ``--url``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence

from bench import auction, chat_fanout, flash_sale, join_storm, reserve

SCENARIOS: dict[str, Callable[[argparse.Namespace], int]] = {
    "chat": chat_fanout.main,
    "join-storm": join_storm.main,
    "flash-sale": flash_sale.main,
    "reserve": reserve.main,
    "auction": auction.main,
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--scenario", choices=tuple(SCENARIOS), default="chat",
                   help="chat: one room, N viewers, R chat/s; flash-sale: N viewers press "
                   "buy within one second on a --units sale; reserve: the checkout service "
                   "alone, N buys at once, batched and one call per buy; auction: N viewers, "
                   "--bidders of them bidding in the auction's last 2 s; join-storm: N "
                   "viewers open their sockets within --window seconds")  # fmt: skip
    p.add_argument("--bidders", type=int, default=1000, help="auction: bidders in the storm")
    p.add_argument("--viewers", type=int, default=2000)
    p.add_argument(
        "--rate",
        type=int,
        default=200,
        help="chat messages per second offered (0: idle viewers, a memory run)",
    )
    p.add_argument(
        "--window",
        type=float,
        default=1.0,
        help="join-storm: seconds over which every viewer opens its socket",
    )
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--procs", type=int, default=None,
                   help="client processes (chat, join-storm: one per 8,000 viewers; "
                   "flash-sale: one per core)")  # fmt: skip
    p.add_argument("--units", type=int, default=100, help="flash-sale: units on sale")
    p.add_argument(
        "--appendfsync",
        choices=("always", "everysec", "no"),
        default="always",
        help="flash-sale, reserve: the private Redis' AOF fsync policy (orders rely on always)",
    )
    p.add_argument(
        "--server-workers",
        type=int,
        default=1,
        help="processes of the server it starts (livecart serve --workers)",
    )
    p.add_argument("--rounds", type=int, default=3, help="reserve: rounds of each mode")
    p.add_argument("--sample", type=int, default=100, help="viewers that decode and measure")
    p.add_argument("--url", help="bench a running server (127.0.0.1 only) instead")
    p.add_argument("--admin-token", default=os.environ.get("LIVECART_ADMIN_TOKEN"))
    p.add_argument("--json", action="store_true", help="also print the figures as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return SCENARIOS[args.scenario](args)


if __name__ == "__main__":
    raise SystemExit(main())
