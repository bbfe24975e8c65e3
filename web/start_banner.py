"""What ``livecart serve`` prints on stdout once it serves: the last lines of its start.

::

    livecart serving on http://127.0.0.1:8080
      admin token:  adm_...
      demo room:    http://127.0.0.1:8080/live/demo
      host studio:  http://127.0.0.1:8080/studio/demo#token=host_...
      data dir:     /home/shop/livecart/data (private Redis, AOF always)

``app_lines`` makes the first lines in a started app (it creates the demo room, see
``web.demo``); ``data_line`` the last, from what ``serve`` knows. ``serve`` prints them
together after every worker has started, so no start-up log line comes after them.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from livecart.web.demo import DEMO_ROOM, ensure_demo_room
from livecart.web.keys import ADMIN_TOKEN, CONFIG

LABEL = "  {:<14}"


def _line(label: str, value: str) -> str:
    return LABEL.format(label + ":") + value


async def app_lines(app: web.Application) -> list[str]:
    """The URL, the admin token and, unless ``--no-demo``, the demo room and its host
    studio link (with the host token when this start created the room)."""
    config = app[CONFIG]
    base = config.base_url
    admin = app[ADMIN_TOKEN]
    lines = [f"livecart serving on {base}", _line("admin token", admin)]
    if config.demo:
        token = await ensure_demo_room(app)
        lines.append(_line("demo room", f"{base}/live/{DEMO_ROOM}"))
        if token:
            lines.append(_line("host studio", f"{base}/studio/{DEMO_ROOM}#token={token}"))
        else:  # the room's host token was printed once, by the start that made it
            lines.append(_line("host studio", f"{base}/studio/{DEMO_ROOM}#token={admin}"))
    return lines


def data_line(data_dir: Path, private_redis: bool) -> str:
    """Where this node's data lives: the data dir's absolute path, and its Redis."""
    redis = "private Redis, AOF always" if private_redis else "Redis at REDIS_URL"
    return _line("data dir", f"{Path(data_dir).resolve()} ({redis})")
