"""Viewers joining and leaving two real ``livecart serve`` processes on one real Redis
(``bench.soak``, the short version of ``make soak``): once they are gone,
each node is back where it started.

After settling, on every node: no session left, as many asyncio tasks as before, open
fds within ``FD_SLACK`` of before, no more TCP connections to Redis than before, and
RSS within ``RSS_BOUND`` of before. The churn is sized so that the leaks this guards
against show: a connection kept alive by reference cycles costs ~12 KiB of RSS, and
~1,000 connections per node go through in ``SECONDS``, so RSS would end about 12 MiB
up; a Redis pool that keeps what a burst opened ends with tens of connections.
Every resume must follow on exactly and no frame may skip a ``seq``.
"""

from __future__ import annotations

from bench.soak import ChurnPlan, redis_back, report, run_churn, soak_servers
from livecart.redis_client import MAX_IDLE

VIEWERS = 80
SECONDS = 25.0
FD_SLACK = 2
RSS_BOUND = 6 * 1024 * 1024  # bytes above the baseline after settling


async def test_a_node_gives_back_what_churning_viewers_took() -> None:
    plan = ChurnPlan(viewers=VIEWERS, seconds=SECONDS, stay=(0.2, 1.0), resume_share=0.4)
    with soak_servers(2) as cluster:
        result = await run_churn(cluster, plan, settle=15.0, interval=5.0)
    text = report(result)
    print(text)
    churn = result.churn
    assert churn.connections > 1000, text
    assert churn.resumed > 100, text
    assert (churn.gaps, churn.bad_resumes, churn.failures) == (0, 0, 0), text
    for before, peak, after in zip(result.before, result.peak, result.after, strict=True):
        assert peak.sessions > 0, text
        assert after.sessions == 0, text
        assert after.tasks <= before.tasks, text
        assert after.proc.total_fds <= before.proc.total_fds + FD_SLACK, text
        assert redis_back(before, after), text
        assert after.pool <= MAX_IDLE, text
        assert after.proc.rss - before.proc.rss <= RSS_BOUND, text
