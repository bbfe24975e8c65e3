"""The pure parts of the churn soak and of the collector policy: when a full collection
is due, and how /proc texts are read."""

from __future__ import annotations

from bench import procstat
from bench.soak import slope_mib_per_min
from livecart.web.gc_tuning import CollectPolicy


def test_a_collection_waits_for_a_quarter_of_the_open_sessions_to_have_closed() -> None:
    policy = CollectPolicy(min_closed=200, min_interval=5.0, share=0.25)
    assert not policy.due(ended=0, open_now=0, now=100.0)  # nothing closed yet
    assert not policy.due(ended=199, open_now=400, now=100.0)
    assert policy.due(ended=200, open_now=400, now=100.0)
    assert not policy.due(ended=999, open_now=4000, now=100.0)  # a quarter of 4000 is 1000
    assert policy.due(ended=1000, open_now=4000, now=100.0)


def test_a_node_left_empty_collects_at_once_but_not_more_often_than_min_interval() -> None:
    policy = CollectPolicy(min_closed=200, min_interval=5.0)
    assert policy.due(ended=3, open_now=0, now=10.0)
    policy.done(ended=3, now=10.0)
    assert not policy.due(ended=3, open_now=0, now=20.0)  # nothing closed since
    assert not policy.due(ended=500, open_now=0, now=14.0)  # too soon
    assert policy.due(ended=500, open_now=0, now=15.5)


def test_proc_texts() -> None:
    assert procstat.parse_rss("Name:\tpython\nVmRSS:\t   91234 kB\nThreads: 3\n") == 91234 * 1024
    assert procstat.fd_kind("socket:[123]") == "socket"
    assert procstat.fd_kind("pipe:[9]") == "pipe"
    assert procstat.fd_kind("anon_inode:[eventpoll]") == "anon_inode"
    assert procstat.fd_kind("/tmp/x.log") == "file"
    assert procstat.socket_inode("socket:[123]") == 123
    assert procstat.socket_inode("pipe:[123]") is None
    table = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
        "timeout inode\n"
        "   0: 0100007F:A1B2 0100007F:18EB 01 00000000:00000000 00:00000000 00000000     0 "
        "       0 5555 1 0000000000000000 20 4 30 10 -1\n"
        "   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0 "
        "       0 6666 1 0000000000000000 100 0 0 10 0\n"
    )
    assert procstat.tcp_peers(table) == {5555: 0x18EB}  # the listening socket is left out


def test_rss_slope() -> None:
    mib = 1024 * 1024
    assert slope_mib_per_min([]) == 0.0
    assert slope_mib_per_min([(0.0, 100 * mib), (60.0, 102 * mib)]) == 2.0
    assert abs(slope_mib_per_min([(0.0, 5 * mib), (30.0, 5 * mib), (60.0, 5 * mib)])) < 1e-9
