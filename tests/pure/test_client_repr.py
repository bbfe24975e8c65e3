"""The client's identity never shows its viewer token in a repr (logs, tracebacks)."""

from __future__ import annotations

from livecart.client.events import You
from livecart.client.protocol import ClientProtocol
from tests.pure.test_client_core import YOU, snapshot

TOKEN = "v1.secret-viewer-token-abc123"


def test_you_repr_leaves_the_token_out() -> None:
    you = You.from_wire({"vid": "v-42", "token": TOKEN, "name": "Ana", "role": "viewer"})
    assert you.token == TOKEN
    assert TOKEN not in repr(you) and TOKEN not in str(you)
    assert "v-42" in repr(you) and "Ana" in repr(you)


def test_the_protocol_state_repr_leaves_the_token_out() -> None:
    proto = ClientProtocol()
    proto.receive(snapshot())
    assert proto.you is not None and proto.you.token == YOU["token"]
    assert proto.snapshot is not None
    assert YOU["token"] not in repr(proto.snapshot)
    assert YOU["token"] not in repr(proto.you)
