"""The sandbox provider keeps the PaymentProvider contract; the sweeper loop keeps going."""

from __future__ import annotations

import asyncio

import pytest

from livecart.checkout.errors import CheckoutError, ProviderError, ProviderTimeout
from livecart.checkout.payments import ChargeLookup, ChargeResult, PaymentProvider, SavedCard
from livecart.checkout.sandbox import APPROVE_CARD, DECLINE_CARD, TIMEOUT_CARD, SandboxProvider
from livecart.checkout.sweeper import run_sweeper, sweeping


def test_sandbox_is_a_payment_provider() -> None:
    assert isinstance(SandboxProvider(), PaymentProvider)


async def test_approve_and_decline_cards() -> None:
    p = SandboxProvider()
    ok = await p.charge(100, "CNY", APPROVE_CARD, "key-1")
    assert ok.approved and ok.charge_id in p.charges
    no = await p.charge(100, "CNY", DECLINE_CARD, "key-2")
    assert no == ChargeResult(approved=False, decline_reason="card declined")
    other = await p.charge(100, "CNY", "5555555555554444", "key-3")
    assert not other.approved and other.decline_reason == "unknown test card"
    assert len(p.charges) == 1


async def test_same_key_never_charges_twice_even_concurrently() -> None:
    p = SandboxProvider(latency=0.05)
    results = await asyncio.gather(
        *(p.charge(100, "CNY", APPROVE_CARD, "key-1") for _ in range(10))
    )
    assert len({r.charge_id for r in results}) == 1
    assert len(p.charges) == 1 and p.attempts == 10
    assert await p.charge(100, "CNY", APPROVE_CARD, "key-1") == results[0]
    assert p.captured("key-1")[0].amount == 100


async def test_same_key_other_parameters_raises() -> None:
    p = SandboxProvider()
    await p.charge(100, "CNY", APPROVE_CARD, "key-1")
    with pytest.raises(ProviderError):
        await p.charge(200, "CNY", APPROVE_CARD, "key-1")


async def test_timeout_card_times_out_after_the_configured_timeout() -> None:
    p = SandboxProvider(timeout=0.1)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(ProviderTimeout):
        await p.charge(100, "CNY", TIMEOUT_CARD, "key-1")
    assert 0.09 <= loop.time() - start < 1.0
    with pytest.raises(ProviderTimeout):  # nothing was recorded: the same key times out again
        await p.charge(100, "CNY", TIMEOUT_CARD, "key-1")
    assert p.charges == {}


async def test_latency_is_applied() -> None:
    p = SandboxProvider(latency=0.1)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await p.charge(100, "CNY", APPROVE_CARD, "key-1")
    assert loop.time() - start >= 0.09


async def test_refund_once_per_charge() -> None:
    p = SandboxProvider()
    charge = await p.charge(100, "CNY", APPROVE_CARD, "key-1")
    assert charge.charge_id is not None
    first = await p.refund(charge.charge_id, "refund-1")
    assert await p.refund(charge.charge_id, "refund-1") == first
    assert await p.refund(charge.charge_id, "refund-2") == first
    assert p.refunds == {charge.charge_id: first.refund_id}
    with pytest.raises(ProviderError):
        await p.refund("ch_unknown", "refund-3")


def test_bad_configuration() -> None:
    with pytest.raises(ValueError):
        SandboxProvider(latency=-1)
    with pytest.raises(ValueError):
        ChargeResult(approved=True)


class FlakySweeps:
    def __init__(self) -> None:
        self.calls = 0
        self.five = asyncio.Event()

    async def sweep(self, room: str | None = None) -> int:
        self.calls += 1
        if self.calls == 5:
            self.five.set()
        if self.calls == 1:
            raise CheckoutError("unavailable", "redis is away")
        if self.calls == 2:
            raise RuntimeError("a bug")
        return 1


async def test_sweeper_survives_failures_and_stops_on_cancel(
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = FlakySweeps()
    async with sweeping(target, interval=0.01):
        await asyncio.wait_for(target.five.wait(), 5)
    calls = target.calls
    await asyncio.sleep(0.05)
    assert target.calls == calls  # stopped
    assert "sweep skipped" in caplog.text and "sweep failed" in caplog.text


async def test_sweeper_interval_is_bounded() -> None:
    target = FlakySweeps()
    task = asyncio.create_task(run_sweeper(target, interval=0))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 2 <= target.calls <= 6  # 0 was clamped to 0.05 s


async def test_sandbox_lookup_by_key() -> None:
    p = SandboxProvider(latency=0.05)
    assert isinstance(p, ChargeLookup)
    assert await p.find_charge("key-1") is None
    running = asyncio.create_task(p.charge(100, "CNY", APPROVE_CARD, "key-1"))
    await asyncio.sleep(0.01)
    assert await p.find_charge("key-1") is None  # still running
    result = await running
    assert await p.find_charge("key-1") == result
    await p.charge(100, "CNY", DECLINE_CARD, "key-2")
    found = await p.find_charge("key-2")
    assert found is not None and not found.approved


async def test_a_saved_card_is_a_token_without_the_number_that_charges_like_the_card() -> None:
    one, other = SandboxProvider(), SandboxProvider()  # two nodes' instances
    ok = await one.save_card(APPROVE_CARD)
    no = await one.save_card(DECLINE_CARD)
    for saved in (ok, no):
        assert saved.last4 in saved.token and APPROVE_CARD[:12] not in saved.token
        assert not any(saved.token[i : i + 12].isdigit() for i in range(len(saved.token)))
    assert (await other.charge(500, "USD", ok.token, "k1")).approved
    assert not (await other.charge(500, "USD", no.token, "k2")).approved
    assert next(iter(other.charges.values())).last4 == "4242"
    with pytest.raises(ValueError):
        SavedCard("pm_" + APPROVE_CARD, "4242")
