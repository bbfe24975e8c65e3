"""Who may read ``/metrics`` (``web.metrics_access``): this machine and the admin token
by default; ``--metrics-allow`` opens it to networks, to anyone (``*``) or to the token
alone (``none``)."""

from __future__ import annotations

import pytest

from livecart.web.config import METRICS_ALLOW
from livecart.web.metrics_access import MetricsAccess

ADMIN = "adm_secret-token"


def test_by_default_this_machine_and_the_admin_token() -> None:
    access = MetricsAccess.parse(METRICS_ALLOW)
    assert access.allows("127.0.0.1", None, ADMIN)
    assert access.allows("127.8.9.10", None, ADMIN)
    assert access.allows("::1", None, ADMIN)
    assert not access.allows("203.0.113.5", None, ADMIN)
    assert not access.allows("2001:db8::5", None, ADMIN)
    assert not access.allows("203.0.113.5", "adm_wrong", ADMIN)
    assert access.allows("203.0.113.5", ADMIN, ADMIN)
    assert not access.allows("?", None, ADMIN)  # no known address: the token only
    assert access.allows("?", ADMIN, ADMIN)


def test_networks_anyone_and_nobody() -> None:
    lan = MetricsAccess.parse(["10.0.0.0/8", " 2001:db8::/32 "])
    assert lan.allows("10.1.2.3", None, ADMIN) and lan.allows("2001:db8::7", None, ADMIN)
    assert not lan.allows("127.0.0.1", None, ADMIN)  # the list replaces the default
    anyone = MetricsAccess.parse(["*"])
    assert anyone.allows("198.51.100.1", None, ADMIN)
    nobody = MetricsAccess.parse(["none"])
    assert not nobody.allows("127.0.0.1", None, ADMIN)
    assert nobody.allows("127.0.0.1", ADMIN, ADMIN)


def test_a_bad_entry_is_named() -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.300"):
        MetricsAccess.parse(["127.0.0.1", "10.0.0.300"])
