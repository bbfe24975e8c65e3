"""The embedded redis-server launcher: start, data survives SIGKILL under AOF always."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from livecart.redis_process import RedisProcess, RedisStartError, find_redis_server, process_alive


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
