"""A minimal chat room on python-socketio: what a Python developer would write instead.

``AsyncServer`` on aiohttp with ``AsyncRedisManager`` (so that several processes or
machines can share rooms, like livecart's Redis pub/sub), uvloop, and one event: a
``chat`` from a client is broadcast to everyone in the client's room with a server
timestamp. Clients pick the room with ``?room=`` on the Socket.IO URL.

    python -m bench.peers.socketio_server --port 8090 --redis-url redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import time
from typing import Any
from urllib.parse import parse_qs

import socketio
from aiohttp import web


def create_app(redis_url: str) -> web.Application:
    sio = socketio.AsyncServer(
        async_mode="aiohttp", client_manager=socketio.AsyncRedisManager(redis_url)
    )
    app = web.Application()
    sio.attach(app)

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        room = query.get("room", ["main"])[0][:64]
        name = query.get("name", ["guest"])[0][:32]
        await sio.save_session(sid, {"room": room, "name": name})
        await sio.enter_room(sid, room)

    @sio.on("chat")  # type: ignore[untyped-decorator]
    async def chat(sid: str, data: Any) -> None:
        session = await sio.get_session(sid)
        text = str(data.get("text", "") if isinstance(data, dict) else "")[:280]
        message = {"user": session["name"], "text": text, "ts": round(time.time() * 1000, 1)}
        await sio.emit("chat", message, room=session["room"])

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    import uvloop

    uvloop.install()
    web.run_app(create_app(args.redis_url), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
