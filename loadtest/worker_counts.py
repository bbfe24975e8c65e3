"""What one client process of ``livecart loadtest`` counts: what its viewers saw and how
their connections went (:class:`WorkerCounts`), and how its buyers fared
(:class:`SaleFigures`). ``loadtest.worker_report`` sends both to the parent.

Cumulative figures only grow; the per-second histograms are taken (and reset) by each
tick with the ``take_*`` methods.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from livecart.loadtest.purchase import STATE_EVENTS, Purchase
from livecart.loadtest.stats import Histogram
from livecart.loadtest.wsclient import ViewerStats


def _histogram(values: list[float]) -> Histogram:
    hist = Histogram()
    hist.add_many(values)
    return hist


@dataclass
class WorkerCounts:
    """What one client process's viewers saw and how their connections went: the light and
    sample viewers' statistics, the video delays, this second's join times, and the
    counters and error counters the report adds up."""

    light: ViewerStats = field(default_factory=ViewerStats)  # viewers that only count
    sampled: ViewerStats = field(default_factory=ViewerStats)  # viewers that decode
    video_delays: list[float] = field(default_factory=list)  # the video viewers append here
    join: Histogram = field(default_factory=Histogram)  # this second's first joins, ms
    rejoin: Histogram = field(default_factory=Histogram)  # this second's rejoins, ms
    count: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def take_latencies(self) -> Histogram:
        """This second's delivery latencies of the sample viewers."""
        latencies, self.sampled.latencies = self.sampled.latencies, []
        return _histogram(latencies)

    def take_sent_latencies(self) -> Histogram:
        """This second's latencies from the senders' clocks (chat messages that carry it)."""
        latencies, self.sampled.sent_latencies = self.sampled.sent_latencies, []
        self.sampled.to_stamp = []
        return _histogram(latencies)

    def take_video_delays(self) -> Histogram:
        """This second's video frame delays (the list stays: the video viewers hold it)."""
        delays = list(self.video_delays)
        self.video_delays.clear()
        return _histogram(delays)

    def take_joins(self) -> tuple[Histogram, Histogram]:
        """This second's join and rejoin times."""
        joins, rejoins = self.join, self.rejoin
        self.join, self.rejoin = Histogram(), Histogram()
        return joins, rejoins


@dataclass
class SaleFigures:
    """How one client process's buyers fared: outcomes counted for the plot, reply and pay
    times, the orders made and their units (``record`` adds each purchase's new history)."""

    events: Counter[str] = field(default_factory=Counter)  # outcomes, for the plot
    buy_ms: list[float] = field(default_factory=list)  # every reply time to buy/pay
    reply_times: list[float] = field(default_factory=list)  # when each came, run seconds
    reserved_times: list[float] = field(default_factory=list)  # when each hold came
    pay_ms: list[float] = field(default_factory=list)  # from "pay" to the order
    buy_hist: Histogram = field(default_factory=Histogram)  # this second's reply times
    orders: list[str] = field(default_factory=list)
    ordered_units: int = 0
    seen: dict[int, int] = field(default_factory=dict)  # history entries already counted

    def record(self, p: Purchase, now: float) -> None:
        """Count the purchase's new outcomes (for the per-second plot) and times."""
        start = self.seen.get(p.viewer, 0)
        for _, what in p.history[start:]:
            if what in ("refused", "failed"):
                continue  # the reply code before it was counted
            self.events[what] += 1
            if what not in STATE_EVENTS and p.reply_ms is not None:
                self.buy_ms.append(p.reply_ms)
                self.buy_hist.add(p.reply_ms)
                self.reply_times.append(now)
                if what == "reserved":
                    self.reserved_times.append(now)
            if what == "ordered" and p.order_id and p.pay_started is not None:
                self.orders.append(p.order_id)
                self.ordered_units += p.qty
                self.pay_ms.append((now - p.pay_started) * 1000)
        self.seen[p.viewer] = len(p.history)

    def take_buy_hist(self) -> Histogram:
        """This second's reply times to buy and pay."""
        hist, self.buy_hist = self.buy_hist, Histogram()
        return hist
