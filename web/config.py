"""Process configuration: command-line flags over environment variables over defaults.

| variable               | flag           | default                       |
|------------------------|----------------|-------------------------------|
| ``REDIS_URL``          | --redis-url    | none: start a private Redis   |
| ``LIVECART_ADMIN_TOKEN`` | --admin-token | generated once, kept in Redis |
| ``LIVECART_HOST``      | --host         | 127.0.0.1                     |
| ``LIVECART_PORT``      | --port         | 8080                          |
| ``LIVECART_DATA_DIR``  | --data-dir     | ./data (one ``serve`` at a time: ``livecart.lock``) |
| ``LIVECART_WORKERS``   | --workers      | 1 (processes sharing the port) |
| ``LIVECART_DEMO``      | --no-demo      | 1: create the demo room (0: don't) |
| ``LIVECART_ICE_HOSTS`` | --ice-hosts    | (none; comma separated)       |
| ``LIVECART_PUBLIC_URL``| --public-url   | http://HOST:PORT              |
| ``LIVECART_NODE_NAME`` | --node-name    | the host name (``/healthz``)  |
| ``LIVECART_WEBHOOK_URL`` / ``LIVECART_WEBHOOK_SECRET`` | | fulfilment webhook   |
| ``LIVECART_LOG_FORMAT``| --log-format   | text (or json: one object a line) |
| ``LIVECART_ACCESS_LOG``| --no-access-log| 1: one line per HTTP request  |
| ``LIVECART_METRICS_ALLOW`` | --metrics-allow | 127.0.0.0/8,::1: who reads ``/metrics`` |
|                        |                | without the admin token (CIDRs; ``*``; ``none``) |
| ``LIVECART_HOLDS_PER_ADDRESS`` | --holds-per-address | 3 (0: no cap)     |
| ``LIVECART_BUYER_JWT_KEY`` | --buyer-jwt-key | none: buyers need no token (HS256 secret) |
| ``LIVECART_BUYER_JWT_PUBLIC_KEY`` | --buyer-jwt-public-key | none (PEM file: RS256/ES256) |
| ``LIVECART_BUYER_JWT_AUDIENCE`` | --buyer-jwt-audience | ``aud`` not checked |
| ``LIVECART_BUYER_JWT_ISSUER`` | --buyer-jwt-issuer | ``iss`` not checked |
| ``LIVECART_REDIS_MAXMEMORY`` | --redis-maxmemory | 512mb (the private Redis only) |
| ``LIVECART_CLOCK_OFFSET`` | (none)      | 0: seconds added to this node's wall clock |
|                        |                | where checkout reads it (holds, sales): skew tests |
| ``LIVECART_REPLAY_RETENTION`` | (none)  | 2592000: seconds a show's event log is kept |
| ``LIVECART_WS_HEARTBEAT`` | (none)      | 30: seconds of silence before a chat socket is pinged |

Connection hygiene (``LIVECART_`` + the name; docs/security.md, "Connections"):

| variable                   | flag                       | default                     |
|----------------------------|----------------------------|-----------------------------|
| ``TRUSTED_PROXIES``        | --trusted-proxies          | none (CIDRs: X-Forwarded-For) |
| ``MAX_SOCKETS_PER_ADDRESS``| --max-sockets-per-address  | 100 a process (0: no cap)   |
| ``ALLOWED_ORIGINS``        | --allowed-origins          | none: same origin only      |
| ``HANDSHAKE_TIMEOUT``      | --handshake-timeout        | 10 s to a request head      |
| ``ADDRESS_CHAT_RATE``      | --address-chat-rate        | 2/s per address (0: off)    |
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

METRICS_ALLOW = ("127.0.0.0/8", "::1")
"""The default of ``--metrics-allow``: only clients on this machine read ``/metrics``
without the admin token."""


@dataclass
class Config:
    """The process's configuration (the table in the module docstring): flags over
    environment variables over these defaults. Plain data; reading it does no I/O."""

    host: str = "127.0.0.1"
    port: int = 8080
    redis_url: str | None = None
    admin_token: str | None = None
    data_dir: Path = field(default_factory=lambda: Path("data"))
    node_id: str | None = None
    ice_hosts: tuple[str, ...] = ()
    public_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_base_delay: float = 1.0
    hold_seconds: float = 300.0
    stream_end_grace: float = 20.0
    replay_retention: float = 30 * 86_400.0
    """Seconds a show's event log (replay chat, chapters) is kept in Redis
    (``LIVECART_REPLAY_RETENTION``); the recording's files are the operator's to prune."""
    demo: bool = True
    workers: int = 1
    node_name: str = field(default_factory=socket.gethostname)
    """What ``/healthz`` calls this node (``--node-name``); one name for all its workers."""
    worker: int = 0
    """This process's index among the node's ``--workers`` (0 for a single process)."""
    log_format: str = "text"
    """``text`` or ``json`` (``--log-format``): see ``web.log_format``."""
    access_log: bool = True
    """One ``livecart.access`` line per HTTP request (``--no-access-log`` turns it off)."""
    holds_per_address: int = 3
    """The most live unpaid purchases an anonymous buyer's address may have in one sale
    (``--holds-per-address``; 0: no cap)."""
    buyer_jwt_key: str | None = None
    """HS256 secret (at least 32 bytes) of the shop's buyer tokens (``--buyer-jwt-key``)."""
    buyer_jwt_public_key: str | None = None
    """PEM text of the RS256/ES256 public key of the shop's buyer tokens."""
    buyer_jwt_audience: str | None = None
    buyer_jwt_issuer: str | None = None
    redis_maxmemory: str = "512mb"
    """``maxmemory`` of the private Redis (``noeviction``); ``0``: no limit."""
    clock_offset: float = 0.0
    """Seconds added to this node's wall clock wherever checkout reads it (holds, sales):
    a way to run a node with a skewed clock. Auctions and giveaways decide by Redis'
    clock and are not moved by it."""
    metrics_allow: tuple[str, ...] = METRICS_ALLOW
    """Who may read ``/metrics`` without the admin token (``--metrics-allow``): CIDRs,
    ``*`` for anyone, ``none`` for nobody (``web.metrics_access``)."""
    metrics_dir: Path | None = None
    """Where the workers of ``serve --workers N`` share their metrics (``web.metrics``);
    made by ``serve`` for the run. None for a single process."""

    trusted_proxies: tuple[str, ...] = ()
    """CIDRs of the proxies in front (``--trusted-proxies``): only their
    ``X-Forwarded-For`` names the client (``livecart.addresses``)."""
    max_sockets_per_address: int = 100
    """Open WebSockets (chat and video) one address may hold in one process; 0: no cap."""
    allowed_origins: tuple[str, ...] = ()
    """Origins besides the same origin and ``public_url`` that may open ``/ws`` sockets."""
    handshake_timeout: float = 10.0
    """Seconds a connection has to send a complete request head (and an idle keep-alive
    connection stays open)."""
    ws_heartbeat: float = 30.0
    """Seconds of silence after which a chat WebSocket gets a ping; one that stays
    silent half as long again is dropped (``web.ws_connection.Heartbeat``)."""
    address_chat_rate: float = 2.0
    """Chat messages a second one address may send over all its sockets (bursts of three
    times that); 0 turns the per-address budget off."""

    @classmethod
    def from_env(cls) -> Config:
        """The configuration from the environment variables alone (``LIVECART_*``,
        ``REDIS_URL``)."""
        env = os.environ
        return cls(
            host=env.get("LIVECART_HOST", "127.0.0.1"),
            port=int(env.get("LIVECART_PORT", "8080")),
            redis_url=env.get("REDIS_URL") or None,
            admin_token=env.get("LIVECART_ADMIN_TOKEN") or None,
            data_dir=Path(env.get("LIVECART_DATA_DIR") or "data"),
            workers=max(1, int(env.get("LIVECART_WORKERS") or "1")),
            demo=_flag(env.get("LIVECART_DEMO", "1")),
            ice_hosts=tuple(h for h in env.get("LIVECART_ICE_HOSTS", "").split(",") if h),
            public_url=env.get("LIVECART_PUBLIC_URL") or None,
            webhook_url=env.get("LIVECART_WEBHOOK_URL") or None,
            webhook_secret=env.get("LIVECART_WEBHOOK_SECRET") or None,
            node_name=env.get("LIVECART_NODE_NAME") or socket.gethostname(),
            log_format=env.get("LIVECART_LOG_FORMAT") or "text",
            replay_retention=float(env.get("LIVECART_REPLAY_RETENTION") or 30 * 86_400),
            access_log=_flag(env.get("LIVECART_ACCESS_LOG", "1")),
            metrics_allow=_list(env.get("LIVECART_METRICS_ALLOW") or ",".join(METRICS_ALLOW)),
            clock_offset=float(env.get("LIVECART_CLOCK_OFFSET", "0") or 0),
            trusted_proxies=_list(env.get("LIVECART_TRUSTED_PROXIES", "")),
            max_sockets_per_address=int(env.get("LIVECART_MAX_SOCKETS_PER_ADDRESS") or "100"),
            allowed_origins=_list(env.get("LIVECART_ALLOWED_ORIGINS", "")),
            handshake_timeout=float(env.get("LIVECART_HANDSHAKE_TIMEOUT") or "10"),
            address_chat_rate=float(env.get("LIVECART_ADDRESS_CHAT_RATE") or "2"),
            ws_heartbeat=float(env.get("LIVECART_WS_HEARTBEAT") or "30"),
            holds_per_address=int(env.get("LIVECART_HOLDS_PER_ADDRESS") or 3),
            buyer_jwt_key=env.get("LIVECART_BUYER_JWT_KEY") or None,
            buyer_jwt_public_key=_read_key(env.get("LIVECART_BUYER_JWT_PUBLIC_KEY")),
            buyer_jwt_audience=env.get("LIVECART_BUYER_JWT_AUDIENCE") or None,
            buyer_jwt_issuer=env.get("LIVECART_BUYER_JWT_ISSUER") or None,
            redis_maxmemory=env.get("LIVECART_REDIS_MAXMEMORY") or "512mb",
        )

    @property
    def buyer_tokens_configured(self) -> bool:
        """Whether buyer tokens can be verified (a shared secret or a public key is set)."""
        return bool(self.buyer_jwt_key or self.buyer_jwt_public_key)

    @property
    def base_url(self) -> str:
        """The server's URL as clients reach it: ``public_url``, else ``http://host:port``."""
        return self.public_url or f"http://{self.host}:{self.port}"


def _flag(text: str) -> bool:
    """A yes/no variable: anything but ``0``, ``false`` or ``no`` is yes."""
    return text.strip().lower() not in ("0", "false", "no")


def _list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _read_key(path: str | None) -> str | None:
    """The PEM text of the file at ``path`` (``None`` for no path)."""
    return Path(path).read_text(encoding="ascii") if path else None
