"""``/metrics`` end to end: a real node (or ``serve --workers 2``), real WebSockets, one
real Redis; the exposition is read with prometheus-client's own parser."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.hubclient import Node, connect, create_room
from tests.node.test_checkout_e2e import CARD_OK, key, open_sale
from tests.node.test_streamer_workers import fresh, serve

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
Families = dict[str, tuple[str, list[Sample]]]


async def scrape(http: aiohttp.ClientSession, base: str) -> Families:
    """``{family name: (type, samples)}`` of one scrape, via prometheus-client's parser."""
    async with http.get(f"{base}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await resp.text()
    return {f.name: (f.type, f.samples) for f in text_string_to_metric_families(text)}


def value(families: Families, sample: str, **labels: str) -> float:
    """The sum of the samples called ``sample`` whose labels include ``labels`` (0 if
    there is none: a counter not yet moved has no series)."""
    family = re.sub(r"(_total|_bucket|_count|_sum)$", "", sample)
    _, samples = families.get(family, ("", []))
    return sum(
        s.value
        for s in samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


def documented() -> dict[str, str]:
    """The families docs/deploy.md's Metrics table lists, with their type."""
    text = DEPLOY.read_text(encoding="utf-8")
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    rows = re.findall(
        r"^\| `(livecart_[a-z_]+)`[^|]*\| (counter|gauge|histogram) \|", section, re.M
    )
    return dict(rows)


async def test_every_family_is_named_by_convention_and_documented(
    http: aiohttp.ClientSession, node: Node
) -> None:
    families = await scrape(http, node.url)
    assert len(families) >= 30
    for name, (kind, samples) in families.items():
        assert name.startswith("livecart_"), name
        assert all(s.labels.get("worker") == "0" for s in samples), name
        if kind == "counter":
            assert all(s.name == f"{name}_total" for s in samples), name
        elif kind == "histogram":
            assert name.endswith("_seconds"), f"{name}: durations are in seconds"
            assert {s.name for s in samples} == {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
        else:
            assert kind == "gauge", (name, kind)
            assert not name.endswith(("_total", "_seconds")), name
        if re.search(r"duration|latency", name):
            assert kind == "histogram", name
    listed = documented()
    # docs/deploy.md lists every family (counters with their _total) and no other
    exported = {(f"{n}_total" if k == "counter" else n): k for n, (k, _) in families.items()}
    assert listed == exported


async def test_a_chat_moves_the_chat_command_and_delivery_counters(
    http: aiohttp.ClientSession, node: Node
) -> None:
    token = await create_room(http, node)
    host = await connect(http, node, name="Mia", token=token)
    viewer = await connect(http, node, name="Ann")
    before = await scrape(http, node.url)
    assert value(before, "livecart_connections", room="r1") == 2
    assert value(before, "livecart_viewers", room="r1") == 1
    reply = await viewer.command("chat", text="hello metrics")
    assert reply["ok"], reply
    await host.wait_for(lambda c: "hello metrics" in c.chat_texts())
    refused = await viewer.command("chat", text="   ")
    assert not refused["ok"] and refused["error"]["code"] == "text_empty"
    after = await scrape(http, node.url)

    def moved(sample: str, **labels: str) -> float:
        return value(after, sample, **labels) - value(before, sample, **labels)

    assert moved("livecart_commands_total", command="chat", outcome="ok") == 1
    assert moved("livecart_commands_total", command="chat", outcome="text_empty") == 1
    assert moved("livecart_deliveries_total") >= 2  # the batch reached host and viewer
    assert moved("livecart_frames_written_total") >= 2
    assert moved("livecart_written_bytes_total") > len("hello metrics") * 2
    assert moved("livecart_delivery_latency_seconds_count") >= 1
    assert moved("livecart_ticks_total") >= 1
    assert value(after, "livecart_tick_duration_seconds_count") == value(
        after, "livecart_ticks_total"
    )
    for client in (host, viewer):
        await client.ws.close()


async def test_a_buy_and_a_payment_move_the_checkout_counters(
    http: aiohttp.ClientSession, node: Node
) -> None:
    token = await create_room(http, node)
    host = await connect(http, node, name="Mia", token=token)
    pid = await open_sale(host, stock=5, units=1)
    buyer = await connect(http, node, name="Ann")
    late = await connect(http, node, name="Bo")
    before = await scrape(http, node.url)
    bought = await buyer.command("buy", product_id=pid, qty=1, key=key())
    assert bought["ok"], bought
    sold_out = await late.command("buy", product_id=pid, qty=1, key=key())
    assert sold_out["error"]["code"] == "sold_out"
    reservation = bought["data"]["reservation"]["id"]
    paid = await buyer.command("pay", reservation_id=reservation, card=CARD_OK, key=key())
    assert paid["ok"], paid
    after = await scrape(http, node.url)

    def moved(sample: str, **labels: str) -> float:
        return value(after, sample, **labels) - value(before, sample, **labels)

    assert moved("livecart_buys_total", outcome="ok") == 1
    assert moved("livecart_buys_total", outcome="sold_out") == 1
    assert moved("livecart_buy_duration_seconds_count") == 2
    assert moved("livecart_buy_duration_seconds_sum") > 0
    assert moved("livecart_buy_duration_seconds_bucket", le="+Inf") == 2
    assert moved("livecart_payments_total", outcome="ok") == 1
    assert moved("livecart_payment_duration_seconds_count") == 1
    assert moved("livecart_commands_total", command="buy", outcome="ok") == 1
    assert moved("livecart_commands_total", command="pay", outcome="ok") == 1
    for client in (host, buyer, late):
        await client.ws.close()


async def test_with_two_workers_every_scrape_shows_both(tmp_path: Path) -> None:
    async with serve(tmp_path) as (base, _token):
        seen: list[set[str]] = []
        for i in range(10):  # new connections: the kernel spreads them over the workers
            async with fresh(2 + i) as http:
                for _ in range(50):  # each worker writes its snapshot once a second
                    families = await scrape(http, base)
                    _, ticks = families["livecart_ticks"]
                    workers = {s.labels["worker"] for s in ticks if s.value > 0}
                    if workers == {"0", "1"}:
                        break
                    await asyncio.sleep(0.2)
                seen.append(workers)
                for name, (_, samples) in families.items():  # no series twice
                    keys = [(x.name, tuple(sorted(x.labels.items()))) for x in samples]
                    assert len(keys) == len(set(keys)), name
                # one series per worker, never the same one twice
                assert len(ticks) == len({s.labels["worker"] for s in ticks})
        assert all(w == {"0", "1"} for w in seen), seen
