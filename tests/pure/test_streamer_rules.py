"""Pure rules: WHIP sessions, rate limits, offer checks, keyframe requests."""

from __future__ import annotations

import pytest

from livecart.streamer.channel import KeyframeClock
from livecart.streamer.errors import NoH264Video, OfferRejected
from livecart.streamer.registry import RateLimiter, SessionRegistry, new_session_id
from livecart.streamer.sdp_check import check_offer

OFFER = """v=0
o=- 1 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=fingerprint:sha-256 AA:BB
m=audio 9 UDP/TLS/RTP/SAVPF 111
a=ice-ufrag:abcd
a=ice-pwd:abcdefghijklmnopqrstuv
a=rtpmap:111 opus/48000/2
m=video 9 UDP/TLS/RTP/SAVPF 96 97
a=rtpmap:96 VP8/90000
a=rtpmap:97 H264/90000
"""


def test_session_ids_carry_at_least_122_random_bits() -> None:
    ids = {new_session_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) * 6 >= 122 for i in ids)


def test_one_publisher_per_room_and_replacement_keeps_the_room_live() -> None:
    reg: SessionRegistry[str] = SessionRegistry()
    first = reg.claim("r", "a", "pub-a")
    assert first.went_live and first.replaced is None
    second = reg.claim("r", "b", "pub-b")
    assert not second.went_live and second.replaced == "pub-a"
    assert reg.release("a") is None  # the replaced session is gone already
    assert reg.publisher("r") == "pub-b"
    released = reg.release("b")
    assert released is not None and released.went_offline and released.room == "r"
    assert len(reg) == 0 and reg.publisher("r") is None
    with pytest.raises(ValueError):
        reg.claim("r", "c", "x") and reg.claim("q", "c", "y")


def test_rate_limiter_bursts_then_refuses_with_a_wait() -> None:
    limiter = RateLimiter(burst=3, rate=0.5)
    assert [limiter.take("ip", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("ip", 0.0)
    assert wait == pytest.approx(2.0)
    assert limiter.retry_after(wait) == 2
    assert limiter.take("other", 0.0) == 0.0
    assert limiter.take("ip", 2.0) == 0.0


def test_rate_limiter_memory_is_bounded() -> None:
    limiter = RateLimiter(burst=1, rate=1.0, max_keys=10)
    for i in range(100):
        limiter.take(f"k{i}", float(i))
    assert len(limiter._buckets) <= 10


def test_offer_checks() -> None:
    summary = check_offer(OFFER)
    assert summary.kinds == ("audio", "video") and summary.has_opus
    with pytest.raises(NoH264Video):
        check_offer(OFFER.replace("H264", "AV1X"))
    with pytest.raises(NoH264Video):
        check_offer(OFFER.split("m=video")[0])
    for bad in ["", "hello", "v=1\n", OFFER.replace("a=fingerprint", "a=fp"), "v=0\nnot sdp\n"]:
        with pytest.raises(OfferRejected):
            check_offer(bad)
    with pytest.raises(OfferRejected):
        check_offer(OFFER + "a=x:" + "y" * 70000 + "\n")


def test_keyframe_requests_are_periodic_and_join_storms_are_rate_limited() -> None:
    clock = KeyframeClock(interval=2.0, min_gap=0.5)
    assert clock.periodic(0.0)
    assert not clock.periodic(1.0)
    joins = [clock.urgent(1.0 + i * 0.01) for i in range(100)]
    assert joins.count(True) == 2  # 100 joins in 1 s: one request per 0.5 s
    assert not clock.periodic(2.5)  # the join request reset the period
    assert clock.periodic(3.5)
