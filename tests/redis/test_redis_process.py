"""The embedded redis-server launcher: start, data survives SIGKILL under AOF always."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis

from livecart.local_cluster import LocalRedisCluster
from livecart.redis_process import (
    RedisProcess,
    RedisStartError,
    find_redis_server,
    process_alive,
    redis_server_version,
)


def test_find_redis_server_returns_an_executable() -> None:
    assert Path(find_redis_server()).exists()


def test_data_survives_sigkill_with_aof_always(tmp_path: Path) -> None:
    proc = RedisProcess(tmp_path)
    proc.start()
    try:
        client = redis.Redis.from_url(proc.url)
        client.set("order:1", "paid")
        client.close()
        proc.restart(hard=True)
        client = redis.Redis.from_url(proc.url)
        assert client.get("order:1") == b"paid"
        assert client.config_get("appendfsync")["appendfsync"] == "always"
        client.close()
    finally:
        proc.stop()
    assert not proc.running


def test_bad_binary_raises_clear_error(tmp_path: Path) -> None:
    proc = RedisProcess(tmp_path, binary="/bin/false")
    with pytest.raises(RedisStartError, match="exited at start"):
        proc.start(timeout=3)


def test_a_server_left_behind_on_the_same_data_is_stopped_first(tmp_path: Path) -> None:
    first = RedisProcess(tmp_path)
    first.start()
    client = redis.Redis.from_url(first.url)
    client.set("order:2", "paid")
    client.close()
    old_pid = int((tmp_path / "redis.pid").read_text())
    # The launcher dies without stopping its server; a new one starts on the same data.
    second = RedisProcess(tmp_path)
    second.start()
    try:
        assert not process_alive(old_pid)
        client = redis.Redis.from_url(second.url)
        assert client.get("order:2") == b"paid"
        client.close()
    finally:
        second.stop()
        first.kill()


def _fake_server(path: Path, version: str) -> str:
    path.write_text(f"#!/bin/sh\necho 'Redis server v={version} sha=0 malloc=libc bits=64'\n")
    path.chmod(0o755)
    return str(path)


def test_find_redis_server_prefers_the_first_redis_7(tmp_path: Path) -> None:
    old = _fake_server(tmp_path / "old", "6.2.7")
    new = _fake_server(tmp_path / "new", "7.0.15")
    newer = _fake_server(tmp_path / "newer", "7.2.4")
    missing = str(tmp_path / "missing")
    assert find_redis_server([missing, old, new, newer]) == new
    assert find_redis_server([missing, old]) == old  # none is 7: the first that exists
    with pytest.raises(RedisStartError):
        find_redis_server([missing])


def test_the_default_server_is_redis_7_when_debian_ships_it() -> None:
    if not Path("/usr/bin/redis-server").exists():
        if os.environ.get("CI"):
            pytest.fail("CI installs Debian's redis-server (make test)")
        pytest.skip("no /usr/bin/redis-server")
    assert redis_server_version(find_redis_server()) >= (7,)


def test_the_session_cluster_serves_every_slot_from_three_masters(
    redis_cluster: LocalRedisCluster,
) -> None:
    """The launcher's cluster (its failover: tests/node/test_cluster_failover.py)."""
    redis_cluster.wait_healthy(30)
    assert len(redis_cluster.master_ports()) == 3 and len(redis_cluster.pids) == 6
    assert all(pid is not None for pid in redis_cluster.pids.values())
    assert all(len(redis_cluster.replicas_of(p)) == 1 for p in redis_cluster.master_ports())
    owner = redis_cluster.port_of_key("lc:{r1}:meta")
    client = redis.RedisCluster.from_url(redis_cluster.url)
    try:
        client.set("lc:{r1}:meta", "x")
        assert client.wait(1, 1000, target_nodes=client.get_node(port=owner)) == 1
        assert client.get_node_from_key("lc:{r1}:meta").port == owner
        assert client.get("lc:{r1}:meta") == b"x"
    finally:
        client.delete("lc:{r1}:meta")
        client.close()
