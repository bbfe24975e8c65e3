"""The multi-node layout from real processes on 127.0.0.1: nginx, N nodes, Redis.

``layout()`` starts, on free loopback ports:

- Redis, from a pluggable ``RedisFactory`` (``single_redis``: one private redis-server 7;
  a Redis Cluster launcher drops in as another factory returning its URL);
- ``nodes`` livecart nodes, each ``livecart serve --workers W`` (forked processes sharing
  the node's port), WebRTC on loopback;
- Debian's nginx (``/usr/sbin/nginx``) running ``deploy/nginx.conf`` (or, with ``tls``,
  ``deploy/nginx-tls.conf`` and a self-signed certificate made at start), the same files
  docker-compose.yml mounts, rendered with the loopback upstreams by ``render()``.

It waits until nginx answers ``/healthz`` from every node, yields a ``Layout`` and stops
everything on exit, whatever happens. ``Layout.kill(node)`` is a crash: SIGKILL to the
node's supervisor and all its workers at once.

``python -m livecart.loadtest.layout`` (``make layout``) runs it until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from livecart.local_cluster import LocalRedisCluster
from livecart.redis_process import RedisProcess, free_port

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
NGINX_CONF = DEPLOY / "nginx.conf"
NGINX_TLS_CONF = DEPLOY / "nginx-tls.conf"
PROXY_CONF = DEPLOY / "livecart-proxy.conf"
NGINX = "/usr/sbin/nginx"
UPSTREAM_HEADER = "X-Livecart-Upstream"

# A factory starts Redis inside ``stack`` (which stops it) with its files under the
# directory given, and returns the URL the nodes use.
RedisFactory = Callable[[contextlib.ExitStack, Path], str]


def single_redis(stack: contextlib.ExitStack, root: Path) -> str:
    """One private redis-server (AOF everysec), stopped with ``stack``."""
    redis = RedisProcess(root / "redis", appendfsync="everysec")
    redis.start()
    stack.callback(redis.stop)
    return redis.url


def external_redis(url: str) -> RedisFactory:
    """A Redis (or cluster) already running at ``url``: nothing to start or stop."""

    def use(_stack: contextlib.ExitStack, _root: Path) -> str:
        return url

    return use


def cluster_redis(masters: int = 3, replicas: int = 1) -> RedisFactory:
    """A private Redis Cluster (``livecart.redis_process.RedisCluster``: ``masters``
    masters with ``replicas`` replicas each), stopped with the stack."""

    def start(stack: contextlib.ExitStack, root: Path) -> str:
        launched = LocalRedisCluster(root / "redis-cluster", masters=masters, replicas=replicas)
        stack.callback(launched.stop)
        launched.start()
        return launched.url

    return start


def default_redis() -> RedisFactory:
    """The layout's default Redis: a cluster of 3 masters + 3 replicas, as deployed."""
    return cluster_redis()


# -- rendering the nginx files ---------------------------------------------------------


def render(
    template: str,
    upstreams: list[str],
    listen: str,
    *,
    media: list[str] | None = None,
    include_dir: Path | None = None,
    access_log: Path | None = None,
    cert: tuple[Path, Path] | None = None,
    listen_redirect: str | None = None,
    upstream_header: bool = False,
) -> str:
    """``template`` (deploy/nginx.conf or nginx-tls.conf) with the ``server`` lines of
    ``upstream livecart`` set to ``upstreams`` ("host:port") and those of
    ``upstream livecart_media`` to ``media`` (default: the same), the main ``listen``
    set to ``listen`` (and the TLS file's plain-HTTP ``listen`` to ``listen_redirect``,
    or that server removed when None). ``include_dir``, ``access_log`` and ``cert`` move
    the files nginx reads or writes. ``upstream_header`` adds a response header naming
    the upstream a request went to (tests only: it shows the network's insides)."""
    text = template

    def upstream_block(name: str, servers: list[str]) -> None:
        nonlocal text
        pattern = re.compile(r"(upstream " + name + r" \{\n)(.*?)(\n\})", re.S)
        match = pattern.search(text)
        if match is None:
            raise ValueError(f"no 'upstream {name}' block in the template")
        first = re.search(r"server \S+(.*);", match.group(2))
        options = first.group(1) if first else ""
        lines = "\n".join(f"    server {s}{options};" for s in servers)
        text = text[: match.start(2)] + lines + text[match.end(2) :]

    upstream_block("livecart", upstreams)
    upstream_block("livecart_media", media or upstreams)
    if "listen 443 ssl" in text:
        text = re.sub(r"listen 443 ssl( http2)?;", f"listen {listen} ssl\\1;", text)
        if listen_redirect is None:
            text = re.sub(r"\nserver \{\n    listen 80;.*?\n\}\n", "\n", text, flags=re.S)
        else:
            text = text.replace("listen 80;", f"listen {listen_redirect};")
    else:
        text = text.replace("listen 8080;", f"listen {listen};")
    if include_dir is not None:
        text = text.replace("include /etc/nginx/", f"include {include_dir}/")
    if access_log is not None:
        text = text.replace("/var/log/nginx/livecart.access.log", str(access_log))
    if cert is not None:
        text = text.replace("/etc/nginx/certs/livecart.crt", str(cert[0]))
        text = text.replace("/etc/nginx/certs/livecart.key", str(cert[1]))
    if upstream_header:
        text = text.replace(
            "proxy_pass http://",
            f"add_header {UPSTREAM_HEADER} $upstream_addr always;\n        proxy_pass http://",
        )
    return text


def main_conf(site: Path, prefix: Path) -> str:
    """A whole nginx.conf around one site file, with every path under ``prefix``."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\ndaemon off;\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} warn;\n"
        "events { worker_connections 16384; }\n"
        "http {\n"
        "    types { text/html html; application/javascript js; text/css css; }\n"
        f"{temp}\n"
        f"    include {site};\n"
        "}\n"
    )


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (openssl), valid 2 days."""
    directory.mkdir(parents=True, exist_ok=True)
    crt, key = directory / "livecart.crt", directory / "livecart.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(crt)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return crt, key


# -- the layout ------------------------------------------------------------------------


@dataclass
class LayoutNode:
    """One livecart node the layout started: its name, the port it listens on, its supervisor
    process and its log file."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def addr(self) -> str:
        """``127.0.0.1:PORT``, as nginx's ``$upstream_addr`` names it."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The node's own HTTP URL, bypassing nginx."""
        return f"http://{self.addr}"

    @property
    def alive(self) -> bool:
        """True while the node's supervisor process has not exited."""
        return self.proc.poll() is None

    def processes(self) -> list[psutil.Process]:
        """The supervisor and its workers (empty once it exited)."""
        try:
            sup = psutil.Process(self.proc.pid)
            return [sup, *sup.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


@dataclass
class Layout:
    """A running cluster: nginx in front (``url``) of ``nodes`` over one Redis, the admin
    token, the files it wrote under ``root``, and the nodes killed so far."""

    url: str  # nginx: http://127.0.0.1:PORT or https://127.0.0.1:PORT
    nodes: list[LayoutNode]
    redis_url: str
    admin: str
    root: Path
    tls: bool
    nginx_conf: Path
    access_log: Path
    error_log: Path
    cert: Path | None = None
    killed: list[str] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        """``url`` with ``ws://`` or ``wss://`` (under TLS) for WebSocket clients."""
        return ("wss" if self.tls else "ws") + self.url[self.url.index(":") :]

    def node_at(self, upstream: str) -> LayoutNode:
        """The node behind an ``$upstream_addr`` value (the last address if nginx
        tried several)."""
        addr = upstream.split(",")[-1].strip()
        for node in self.nodes:
            if node.addr == addr:
                return node
        raise KeyError(upstream)

    def kill(self, node: LayoutNode) -> None:
        """A crash: SIGKILL to the supervisor and every worker at once."""
        procs = node.processes()
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGKILL)
        node.proc.wait(10)
        psutil.wait_procs(procs, timeout=10)
        self.killed.append(node.name)

    def get(self, path: str, timeout: float = 5.0, headers: dict[str, str] | None = None) -> bytes:
        """GET through nginx (certificate not checked: it is the layout's own)."""
        ctx = ssl._create_unverified_context() if self.tls else None
        request = urllib.request.Request(self.url + path, headers=headers or {})
        with urllib.request.urlopen(request, timeout=timeout, context=ctx) as resp:
            body: bytes = resp.read()
            return body


def _wait_http(
    url: str, proc: subprocess.Popen[bytes], what: str, timeout: float, log: Path
) -> None:
    ctx = ssl._create_unverified_context() if url.startswith("https:") else None
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:
                resp.read()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"{what} did not start; {log}:\n{tail}") from None
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def node_argv(
    name: str, port: int, redis_url: str, admin: str, data_dir: Path, workers: int
) -> list[str]:
    return [
        sys.executable, "-m", "livecart", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--redis-url", redis_url, "--admin-token", admin, "--no-demo", "--node-name", name,
        "--data-dir", str(data_dir), "--workers", str(workers), "--ice-hosts", "127.0.0.1",
        # nginx is the trusted proxy: its X-Forwarded-For names the client. The simulated
        # crowd all comes from 127.0.0.1, so the per-address caps are off here.
        "--trusted-proxies", "127.0.0.1/32,::1/128",
        "--max-sockets-per-address", "0", "--address-chat-rate", "0",
        "--holds-per-address", "0",
    ]  # fmt: skip


@contextlib.contextmanager
def layout(
    nodes: int = 3,
    workers: int = 2,
    *,
    tls: bool = False,
    redis: RedisFactory | None = None,
    media_nodes: int | None = None,
    upstream_header: bool = False,
    port: int = 0,
    admin: str | None = None,
    root: Path | None = None,
    timeout: float = 60.0,
) -> Iterator[Layout]:
    """The layout on 127.0.0.1 until the block ends (see the module docstring).

    ``media_nodes``: how many nodes (the first ones) ``upstream livecart_media`` lists
    (WHIP and viewer video); default all. ``port``: nginx's port (0: a free one).
    ``root``: where the files go (default a temporary directory, removed at exit)."""
    if not os.access(NGINX, os.X_OK):
        raise RuntimeError(f"{NGINX} is missing: apt-get install nginx (make test does)")
    if not NGINX_CONF.exists():
        raise RuntimeError(f"{NGINX_CONF} is missing: run from a source checkout (make layout)")
    admin = admin or "adm_layout_" + secrets.token_hex(8)
    redis = redis or default_redis()
    with contextlib.ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="livecart-layout-")))
        root.mkdir(parents=True, exist_ok=True)
        redis_url = redis(stack, root)

        started: list[LayoutNode] = []
        for i in range(1, nodes + 1):
            name = f"node{i}"
            node_port = free_port()
            log = root / f"{name}.log"
            out = stack.enter_context(log.open("wb"))
            argv = node_argv(name, node_port, redis_url, admin, root / name, workers)
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
            stack.callback(_stop, proc)
            started.append(LayoutNode(name, node_port, proc, log))
        for n in started:
            _wait_http(f"{n.url}/healthz", n.proc, n.name, timeout, n.log)

        ngx = root / "nginx"
        ngx.mkdir(exist_ok=True)
        shutil.copy(PROXY_CONF, ngx / PROXY_CONF.name)
        cert = self_signed(ngx / "certs") if tls else None
        nginx_port = port or free_port()
        addrs = [n.addr for n in started]
        site = render(
            (NGINX_TLS_CONF if tls else NGINX_CONF).read_text(),
            addrs,
            f"127.0.0.1:{nginx_port}",
            media=addrs[:media_nodes] if media_nodes else None,
            include_dir=ngx,
            access_log=ngx / "access.log",
            cert=cert,
            upstream_header=upstream_header,
        )
        (ngx / "livecart.conf").write_text(site)
        conf = ngx / "nginx.conf"
        conf.write_text(main_conf(ngx / "livecart.conf", ngx))
        check = subprocess.run(
            [NGINX, "-t", "-q", "-p", str(ngx), "-c", str(conf), "-e", str(ngx / "error.log")],
            capture_output=True,
            text=True,
        )
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t rejected {conf}: {check.stderr}")
        nginx_log = root / "nginx.out"
        nginx_out = stack.enter_context(nginx_log.open("wb"))
        nginx = subprocess.Popen(
            [NGINX, "-p", str(ngx), "-c", str(conf), "-e", str(ngx / "error.log")],
            stdout=nginx_out,
            stderr=subprocess.STDOUT,
        )
        stack.callback(_stop, nginx, 10.0)
        scheme = "https" if tls else "http"
        url = f"{scheme}://127.0.0.1:{nginx_port}"
        _wait_http(f"{url}/healthz", nginx, "nginx", timeout, nginx_log)
        yield Layout(
            url=url,
            nodes=started,
            redis_url=redis_url,
            admin=admin,
            root=root,
            tls=tls,
            nginx_conf=ngx / "livecart.conf",
            access_log=ngx / "access.log",
            error_log=ngx / "error.log",
            cert=cert[0] if cert else None,
        )


def redis_factory(choice: str) -> RedisFactory:
    """The factory a ``--redis`` value names (see ``main``)."""
    if choice == "auto":
        return default_redis()
    if choice == "single":
        return single_redis
    if choice == "cluster":
        return cluster_redis()
    if choice.startswith("redis://127.0.0.1:"):
        return external_redis(choice)
    raise SystemExit(f"--redis: auto, single, cluster or redis://127.0.0.1:PORT, not {choice!r}")


def _describe(lay: Layout) -> str:
    lines = [
        f"livecart layout: {len(lay.nodes)} nodes behind nginx, Redis at {lay.redis_url}",
        f"  open        {lay.url}/",
        f"  admin token {lay.admin}",
        "  create a room:",
        f"    curl {'-k ' if lay.tls else ''}-X POST {lay.url}/api/rooms "
        f"-H 'Authorization: Bearer {lay.admin}' -H 'Content-Type: application/json' "
        f'-d \'{{"id": "demo", "title": "Demo", "host": "Host"}}\'',
        "    (the reply names studio_url, with the host token, and viewer_url)",
    ]
    lines += [f"  {n.name:<11} {n.url}/  (pid {n.proc.pid}, log {n.log})" for n in lay.nodes]
    lines += [f"  nginx conf  {lay.nginx_conf}", f"  access log  {lay.access_log}"]
    if lay.cert:
        lines.append(f"  certificate {lay.cert} (self-signed: the browser will warn)")
    lines.append("Ctrl-C stops everything.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m livecart.loadtest.layout", description=__doc__)
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--port", type=int, default=0, help="nginx's port (default: a free one)")
    p.add_argument("--tls", action="store_true", help="deploy/nginx-tls.conf, self-signed")
    p.add_argument("--admin-token", default=None)
    p.add_argument(
        "--redis",
        default="auto",
        help="auto (a cluster when this tree has the launcher, else one server), single, "
        "cluster, or a redis:// URL of a running server (127.0.0.1)",
    )
    args = p.parse_args(argv)
    redis = redis_factory(args.redis)

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    # Both, explicitly: a shell that starts this in the background ignores SIGINT.
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    with layout(
        args.nodes, args.workers, tls=args.tls, port=args.port, admin=args.admin_token, redis=redis
    ) as lay:
        print(_describe(lay), flush=True)
        try:
            while all(n.alive for n in lay.nodes):
                time.sleep(0.5)
            print("a node exited; stopping", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nstopping", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
