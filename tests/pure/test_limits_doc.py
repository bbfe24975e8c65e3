"""docs/protocol.md's "Limits" table is rendered from ``livecart.limits``: a limit
changed, added or removed in the module fails here until the doc says the same, and the
failure prints the table to paste. The parsers read the module's values (no second copy
of a limit left in them), and the pages' inputs stop where the server does."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from livecart import limits
from livecart.chat import commands
from livecart.chat.errors import CommandError
from livecart.checkout import auction_rules
from livecart.checkout.errors import CheckoutError
from livecart.checkout.validation import SaleRequest
from livecart.web import schemas

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "docs" / "protocol.md"
BEGIN = "<!-- limits table: rendered from livecart/limits.py -->\n"
END = "<!-- end of limits table -->\n"


def doc_table() -> str:
    text = PROTOCOL.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, f"docs/protocol.md lost the markers {BEGIN!r}"
    return text.split(BEGIN, 1)[1].split(END, 1)[0]


def test_the_protocol_doc_shows_the_limits_module() -> None:
    expected = limits.table()
    if doc_table() != expected:
        pytest.fail(
            "docs/protocol.md's limits table differs from livecart/limits.py; paste this "
            f"between the markers (or run python -m livecart.limits):\n\n{expected}",
            pytrace=False,
        )


def test_every_limit_has_its_comment() -> None:
    constants = {n for n in vars(limits) if re.fullmatch(r"(MAX|MIN)_[A-Z0-9_]+", n)}
    assert {name for name, _, _ in limits.documented()} == constants
    assert all(": " in why for _, _, why in limits.documented())  # what, then why


def test_the_check_can_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_PRICE", limits.MAX_PRICE + 1)
    assert doc_table() != limits.table()


def _refused(obj: dict[str, object]) -> bool:
    try:
        commands.parse_command(obj)
    except CommandError:
        return True
    return False


def test_the_parsers_hold_the_modules_values() -> None:
    product = {"cmd": "add_product", "name": "x", "currency": "CNY", "stock": 1}
    assert not _refused({**product, "price": limits.MAX_PRICE})
    assert _refused({**product, "price": limits.MAX_PRICE + 1})
    assert _refused({**product, "price": 0, "stock": limits.MAX_STOCK + 1})
    assert _refused({"cmd": "heart", "n": limits.MAX_HEARTS + 1})
    assert _refused({"cmd": "slow_mode", "seconds": limits.MAX_SLOW_MODE_S + 1})
    assert not _refused({"cmd": "explain", "product_id": "p" * limits.MAX_PRODUCT_ID_LEN})
    assert _refused({"cmd": "explain", "product_id": "p" * (limits.MAX_PRODUCT_ID_LEN + 1)})
    with pytest.raises(ValueError):
        auction_rules.check_increments([(0, limits.MAX_PRICE + 1)])
    sale = {"price": limits.MAX_PRICE, "currency": "CNY", "units": 1, "limit": 1}
    SaleRequest.parse("r", "p", **sale, opens_at=None, ends_at=None, now_ms=0)
    with pytest.raises(CheckoutError):
        SaleRequest.parse(
            "r", "p", **{**sale, "price": limits.MAX_PRICE + 1},
            opens_at=None, ends_at=None, now_ms=0,
        )  # fmt: skip
    body = {"name": "x", "currency": "CNY", "stock": limits.MAX_STOCK}
    msgspec.convert({**body, "price": limits.MAX_PRICE}, schemas.NewProduct)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({**body, "price": limits.MAX_PRICE + 1}, schemas.NewProduct)


# (page file, the text just before the field's maxlength, the limit it must equal)
PAGE_FIELDS = [
    ("live.html", 'id="chat-input" name="text" maxlength="', limits.MAX_CHAT_LEN),
    ("js/studio-chat.js", 'id: "host-chat-input", maxlength: "', limits.MAX_CHAT_LEN),
    ("js/live.js", 'id: "name-input",\n    maxlength: "', limits.MAX_DISPLAY_NAME),
    ("js/studio-lineup.js", 'name: "name", maxlength: "', limits.MAX_PRODUCT_NAME_LEN),
    ("js/studio-lineup.js", 'spellcheck: "false", maxlength: "', limits.MAX_IMAGE_URL_LEN),
]


@pytest.mark.parametrize(("page", "before", "limit"), PAGE_FIELDS)
def test_the_pages_fields_stop_at_the_servers_limits(page: str, before: str, limit: int) -> None:
    """The pages cannot import Python: their inputs' maxlength must say the same."""
    text = (ROOT / "web" / "static" / page).read_text(encoding="utf-8")
    assert before in text, f"{page}: the field's markup moved; update PAGE_FIELDS"
    found = re.match(r"[0-9]+", text.split(before, 1)[1])
    assert found is not None and int(found[0]) == limit, (page, before)
