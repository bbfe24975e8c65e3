"""The embedded redis-server launcher: start, data survives SIGKILL under AOF always."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from web.redis_process import RedisProcess, RedisStartError, find_redis_server


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
