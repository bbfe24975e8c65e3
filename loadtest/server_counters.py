"""The server counters a load test compares with what its viewers saw, read from the
server's ``/metrics`` (Prometheus text format) and summed over every worker.

Pure: text in, numbers out (``prometheus_client``'s parser does no I/O).
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

COUNTERS = {
    "deliveries": "livecart_deliveries_total",
    "commands": "livecart_commands_total",
    "chat_skipped": "livecart_chat_skipped_total",
    "slow_closed": "livecart_slow_consumer_closes_total",
}
"""Our name -> the sample summed (over workers and labels) from ``/metrics``."""


def server_counters(exposition: str) -> dict[str, int]:
    """``{"deliveries", "commands", "chat_skipped", "slow_closed"}`` from a scrape of
    ``/metrics``: each sample summed over its series (every worker, every label set).
    Raises ``ValueError`` for text that is not the Prometheus format."""
    wanted = {sample: ours for ours, sample in COUNTERS.items()}
    totals = dict.fromkeys(COUNTERS, 0.0)
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            ours = wanted.get(sample.name)
            if ours is not None:
                totals[ours] += sample.value
    return {name: round(total) for name, total in totals.items()}
