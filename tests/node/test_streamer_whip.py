"""WHIP endpoint statuses, against a real server, with aiortc as the publisher.

Every case also checks that no peer connection is left behind.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from livecart.streamer import publisher as publisher_module
from livecart.streamer.synthetic import PacketTrack, encode_clip, whip_publish
from tests.streamer_fixtures.harness import TOKEN, running_server, wait_for

SDP = {"Content-Type": "application/sdp"}
AUTH = {**SDP, "Authorization": f"Bearer {TOKEN}"}


async def offer_sdp(kind: str = "video") -> str:
    """A real aiortc offer (host candidates only)."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver(kind, direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


async def test_auth_content_type_and_malformed_offers(tmp_path: Path) -> None:
    offer = await offer_sdp()
    async with running_server(tmp_path) as server, aiohttp.ClientSession() as http:
        url = f"{server.url}/whip/room1"
        async with http.post(url, data=offer, headers=SDP) as resp:
            assert resp.status == 401
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        bad = {**SDP, "Authorization": "Bearer nope"}
        async with http.post(url, data=offer, headers=bad) as resp:
            assert resp.status == 401
            assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
        async with http.post(url, data=offer, headers={**AUTH, "Content-Type": "text/plain"}) as r:
            assert r.status == 415
        for body in ["garbage", "v=0\r\no=- 0 0 IN IP4 1.2.3.4\r\n", offer.replace("H264", "H265")]:
            async with http.post(url, data=body, headers=AUTH) as resp:
                assert resp.status == 400, body
        audio_only = await offer_sdp("audio")
        async with http.post(url, data=audio_only, headers=AUTH) as resp:
            assert resp.status == 400
        async with http.post(f"{server.url}/whip/bad%20room", data=offer, headers=AUTH) as resp:
            assert resp.status == 404
        async with http.options(url) as resp:
            assert resp.status == 204 and resp.headers["Accept-Post"] == "application/sdp"
        assert server.service.peer_connections() == 0
        assert server.live_events == []


async def test_post_returns_answer_and_delete_ends_the_session(tmp_path: Path) -> None:
    offer = await offer_sdp()
    async with running_server(tmp_path) as server, aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/whip/room1", data=offer, headers=AUTH) as resp:
            assert resp.status == 201
            assert resp.content_type == "application/sdp"
            answer = await resp.text()
            location = resp.headers["Location"]
        assert answer.startswith("v=0") and "H264" in answer and "VP8" not in answer
        assert "127.0.0.1" in answer  # the ice_hosts candidate
        prefix = "/whip/room1/"
        assert location.startswith(prefix) and len(location) - len(prefix) >= 32
        assert server.service.peer_connections() == 1
        assert server.live_events == [("room1", True)]

        async with http.patch(f"{server.url}{location}") as resp:
            assert resp.status == 405
        wrong_room = f"{server.url}/whip/other{location[len(prefix) - 1 :]}"
        async with http.delete(wrong_room, headers=AUTH) as resp:
            assert resp.status == 404  # right session, wrong room
        # The session URL alone is not enough: DELETE needs the host token.
        async with http.delete(f"{server.url}{location}") as resp:
            assert resp.status == 401
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        bad = {"Authorization": "Bearer nope"}
        async with http.delete(f"{server.url}{location}", headers=bad) as resp:
            assert resp.status == 401
        assert server.service.peer_connections() == 1  # still publishing
        async with http.delete(f"{server.url}{location}", headers=AUTH) as resp:
            assert resp.status == 200
        async with http.delete(f"{server.url}{location}", headers=AUTH) as resp:
            assert resp.status == 404
        async with http.delete(f"{server.url}/whip/room1/unknown", headers=AUTH) as resp:
            assert resp.status == 404
        assert server.service.peer_connections() == 0
        await wait_for(lambda: server.live_events[-1] == ("room1", False), 5, "offline")


async def test_post_flood_gets_429_and_leaves_nothing_behind(tmp_path: Path) -> None:
    offer = await offer_sdp()
    async with running_server(tmp_path) as server, aiohttp.ClientSession() as http:
        url = f"{server.url}/whip/room1"

        async def post() -> tuple[int, str | None, str | None]:
            async with http.post(url, data=offer, headers=AUTH) as resp:
                return resp.status, resp.headers.get("Retry-After"), resp.headers.get("Location")

        results = await asyncio.gather(*(post() for _ in range(40)))
        statuses = [status for status, _, _ in results]
        assert statuses.count(429) >= 25, statuses
        assert set(statuses) <= {201, 429}
        assert all(int(retry or 0) >= 1 for status, retry, _ in results if status == 429)
        # Every accepted POST replaced the previous publisher: one connection remains.
        await wait_for(lambda: server.service.peer_connections() == 1, 5, "one publisher")
        last = server.service.sessions.values()[0].session_id
        async with http.delete(f"{url}/{last}", headers=AUTH) as resp:
            assert resp.status == 200
        assert server.service.peer_connections() == 0
    assert server.live_events[0] == ("room1", True)
    assert server.live_events[-1] == ("room1", False)


async def test_replacement_and_shutdown_close_every_peer_connection(tmp_path: Path) -> None:
    clip = encode_clip(frames=60, gop=30)
    async with running_server(tmp_path) as server:
        url = f"{server.url}/whip/room1"
        pc1, _ = await whip_publish(url, TOKEN, PacketTrack(clip))
        channel = server.service.channels["room1"]
        await wait_for(lambda: channel.last_init is not None, 10, "first publisher packaged")
        pc2, _ = await whip_publish(url, TOKEN, PacketTrack(clip))
        assert server.service.peer_connections() == 1
        assert server.live_events == [("room1", True)]  # replacement keeps the room live
        publisher = server.service.sessions.publisher("room1")
        assert publisher is not None
        await wait_for(lambda: publisher.video_frames > 10, 10, "second publisher frames")
        shows = sorted((tmp_path / "media" / "room1").iterdir())
        assert len(shows) == 2
    # runner.cleanup ran the cleanup_ctx: everything closed, the show finished.
    assert server.service.peer_connections() == 0
    assert publisher.pc.connectionState == "closed"
    assert server.live_events[-1] == ("room1", False)
    await pc1.close()
    await pc2.close()


async def test_a_session_that_never_connects_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publisher_module, "CONNECT_TIMEOUT", 1.0)
    offer = await offer_sdp()  # its peer connection is closed: nobody will answer ICE
    async with running_server(tmp_path) as server, aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/whip/room1", data=offer, headers=AUTH) as resp:
            assert resp.status == 201
        assert server.service.peer_connections() == 1
        await wait_for(lambda: server.service.peer_connections() == 0, 5, "timed-out session")
        await wait_for(lambda: server.live_events[-1] == ("room1", False), 5, "offline")


async def test_failed_auth_flood_never_locks_out_the_host(tmp_path: Path) -> None:
    """Bad tokens from one address (a NAT, the proxy) run out that address's bucket of
    failed attempts (429); the host, from the same address, still publishes and ends
    its session with its valid token."""
    offer = await offer_sdp()
    async with running_server(tmp_path) as server, aiohttp.ClientSession() as http:
        url = f"{server.url}/whip/room1"
        bad = {**SDP, "Authorization": "Bearer wrong"}
        statuses = []
        for _ in range(30):
            async with http.post(url, data=offer, headers=bad) as resp:
                statuses.append(resp.status)
        assert set(statuses) == {401, 429} and statuses.count(429) >= 15, statuses
        async with http.post(url, data=offer, headers=SDP) as resp:
            assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
        assert server.service.peer_connections() == 0
        async with http.post(url, data=offer, headers=AUTH) as resp:
            assert resp.status == 201, await resp.text()
            location = resp.headers["Location"]
        async with http.delete(f"{server.url}{location}", headers={"Authorization": "x"}) as r:
            assert r.status == 429  # still over the failed-attempt budget: not ended
        assert server.service.peer_connections() == 1
        async with http.delete(f"{server.url}{location}", headers=AUTH) as resp:
            assert resp.status == 200
        assert server.service.peer_connections() == 0
