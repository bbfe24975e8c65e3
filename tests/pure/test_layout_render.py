"""The nginx files the layout runs are the ones in deploy/: ``render`` rewrites only the
upstream ``server`` lines, ``listen`` and file paths, and the logs never see a query."""

from __future__ import annotations

from livecart.loadtest.layout import NGINX_CONF, NGINX_TLS_CONF, PROXY_CONF, render


def test_render_rewrites_only_the_loopback_lines() -> None:
    text = render(NGINX_CONF.read_text(), ["127.0.0.1:1", "127.0.0.1:2"], "127.0.0.1:9")
    assert "server 127.0.0.1:1 max_fails=1 fail_timeout=10s;" in text
    assert "node1:8080" not in text and "listen 127.0.0.1:9;" in text
    assert "$request_uri" not in text and "$args" not in text and "$request " not in text
    tls = render(NGINX_TLS_CONF.read_text(), ["127.0.0.1:1"], "127.0.0.1:9")
    assert "listen 127.0.0.1:9 ssl http2;" in tls and "listen 80" not in tls


def test_render_moves_paths_and_media_upstream() -> None:
    text = render(
        NGINX_TLS_CONF.read_text(),
        ["127.0.0.1:1", "127.0.0.1:2"],
        "127.0.0.1:9",
        media=["127.0.0.1:1"],
        include_dir=PROXY_CONF.parent,
        cert=(PROXY_CONF.parent / "c.crt", PROXY_CONF.parent / "c.key"),
        listen_redirect="127.0.0.1:8",
        upstream_header=True,
    )
    media = text[text.index("upstream livecart_media") :].split("}")[0]
    assert "127.0.0.1:1" in media and "127.0.0.1:2" not in media
    assert f"include {PROXY_CONF.parent}/livecart-proxy.conf;" in text
    assert "/etc/nginx" not in text and "listen 127.0.0.1:8;" in text
    assert text.count("add_header X-Livecart-Upstream") == 2


def test_the_proxy_settings_pass_websockets_long_lived() -> None:
    proxy = PROXY_CONF.read_text()
    for line in (
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_read_timeout 3600s;",
        "proxy_buffering off;",
    ):
        assert line in proxy
