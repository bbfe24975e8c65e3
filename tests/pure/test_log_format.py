"""The log line formats and the redaction, on plain records: one line per event, valid
JSON whatever the message holds, and no token in any field."""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecart.web import cli as web_cli
from livecart.web import log_format
from livecart.web.cli import add_parsers
from livecart.web.config import Config
from livecart.web.log_format import ContextFilter, JsonFormatter, TextFormatter
from livecart.web.redaction import REDACTED, Redactor, log_path, request_id

HOST = "host_" + "Ab3-_x" * 6
ADMIN = "adm_" + "Zz9_q-" * 5
VIEWER = "vAbCdEfGhIjKlMnOp." + "0123456789abcdef" * 2


def record(msg: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    rec = logging.makeLogRecord(
        {"name": "livecart.test", "levelno": logging.ERROR, "levelname": "ERROR", **extra}
    )
    rec.msg, rec.args = msg, args or None
    if exc:
        try:
            raise ValueError(f"boom\nwith {HOST}\non three lines")
        except ValueError:
            rec.exc_info = sys.exc_info()
    ContextFilter("edge-1", 3).filter(rec)
    return rec


def json_line(rec: logging.LogRecord, redactor: Redactor | None = None) -> dict[str, object]:
    line = JsonFormatter(redactor).format(rec)
    assert len(line.splitlines()) == 1, line
    parsed: dict[str, object] = json.loads(line)
    return parsed


def test_a_json_line_has_the_fields_and_the_exception_as_one_string() -> None:
    fields = json_line(record("charge %s failed", "r_1", exc=True, status=502))
    assert fields["msg"] == "charge r_1 failed"
    assert fields["level"] == "ERROR" and fields["logger"] == "livecart.test"
    assert fields["node"] == "edge-1" and fields["worker"] == 3 and fields["status"] == 502
    assert str(fields["ts"]).endswith("Z") and "T" in str(fields["ts"])
    exc = str(fields["exc"])
    assert exc.startswith("Traceback") and "ValueError: boom\nwith host_" in exc
    assert HOST not in exc
    assert "room" not in fields and "request_id" not in fields


def test_room_and_request_id_come_from_the_context_or_from_extra() -> None:
    rid, room = log_format.REQUEST_ID.set("req-1"), log_format.ROOM.set("demo")
    try:
        fields = json_line(record("hello"))
        explicit = json_line(record("hello", room="other"))
    finally:
        log_format.REQUEST_ID.reset(rid)
        log_format.ROOM.reset(room)
    assert (fields["room"], fields["request_id"]) == ("demo", "req-1")
    assert (explicit["room"], explicit["request_id"]) == ("other", "req-1")


@pytest.mark.parametrize(
    "text",
    [
        "lone surrogate \udcff and \ud800 here",
        "line\u2028separator\u2029and\x85next\r\nline\x00nul",
        "emoji 🛍️ 丝巾 e\u0301 \u202eRTL",
        "%s %d not args",
    ],
)
def test_odd_text_never_breaks_a_line_or_the_formatter(text: str) -> None:
    for fmt in (JsonFormatter(), TextFormatter()):
        line = fmt.format(record(text, exc=True, name_field=text))
        assert len(line.splitlines()) == 1, line
        line.encode("utf-8")  # writable to a UTF-8 stream
    assert json_line(record(text))["msg"] == text.encode("utf-8", "backslashreplace").decode()


def test_a_bad_format_string_is_still_one_event() -> None:
    fields = json_line(record("%d items", "not a number"))
    assert "%d items" in str(fields["msg"])


@given(st.text(), st.text())
def test_any_message_gives_one_json_line(msg: str, value: str) -> None:
    fields = json_line(record(msg, detail=value))
    assert isinstance(fields["msg"], str) and isinstance(fields["detail"], str)


def test_the_text_format_is_one_line_with_key_values() -> None:
    line = TextFormatter().format(record("GET /x 200", exc=True, path="/x", status=200))
    assert len(line.splitlines()) == 1
    ts, level, logger, rest = line.split(" ", 3)
    assert (level, logger) == ("ERROR", "livecart.test") and ts.endswith("Z")
    assert rest.startswith('GET /x 200 node=edge-1 worker=3 path=/x status=200 exc="Traceback')
    assert HOST not in line


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"token {HOST} accepted", HOST),
        (f"{{'host_token': '{HOST}'}}", HOST),
        (f"admin {ADMIN}", ADMIN),
        (f"GET /ws/demo?vid=x&token={HOST}&since=3", HOST),
        ("GET /ws/demo?token=short1", "short1"),
        ("studio /studio/demo#token=s3cr3t-value", "s3cr3t-value"),
        ("{'Authorization': 'Bearer opaque-value-1'}", "opaque-value-1"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("authorization=raw-cred-9", "raw-cred-9"),
        ("sent Bearer abc.def-ghi", "abc.def-ghi"),
        (f"viewer {VIEWER}", VIEWER.split(".")[1]),
        ('{"secret": "whsec_1234"}', "whsec_1234"),
        ("configured literal-admin-secret here", "literal-admin-secret"),
    ],
)
def test_tokens_are_redacted(text: str, secret: str) -> None:
    redactor = Redactor(["literal-admin-secret", None, "ab"])
    out = redactor.redact(text)
    assert secret not in out and REDACTED in out
    assert redactor.redact(out) == out
    assert secret not in json.dumps(json_line(record(text, exc=True, field=text), redactor))


def test_ordinary_text_is_left_alone() -> None:
    text = "room demo: host_token_sha missing; 3 viewers; Bearer-less; vid v123 joined ab"
    assert Redactor(["ab"]).redact(text) == text


def test_the_access_path_has_no_query_and_no_whip_session() -> None:
    assert log_path(f"/ws/demo?token={HOST}") == "/ws/demo"
    assert log_path("/whip/demo/5f0c9a5e") == f"/whip/demo/{REDACTED}"
    assert log_path("/whip/demo") == "/whip/demo"
    assert log_path("/api/rooms/demo/figures") == "/api/rooms/demo/figures"


def test_a_client_request_id_is_kept_only_when_plain() -> None:
    assert request_id("lb-7f3a:01.2_x") == "lb-7f3a:01.2_x"
    for bad in (None, "", "a" * 65, "has space", "new\nline", "-leading", "ünï", HOST):
        made = request_id(bad)
        assert made != bad and len(made) == 16 and int(made, 16) >= 0


def test_configure_writes_json_lines_to_the_stream() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, sys.excepthook)
    try:
        log_format.configure(
            "json", node="n1", worker=0, secrets=["configured-secret"], stream=stream
        )
        logging.getLogger("livecart.x").warning("uses configured-secret")
        logging.getLogger(log_format.ACCESS_LOGGER).info("GET / 200")
    finally:
        root.handlers[:], sys.excepthook = saved[0], saved[2]
        root.setLevel(saved[1])
        logging.captureWarnings(False)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["msg"] for line in lines] == [f"uses {REDACTED}", "GET / 200"]
    with pytest.raises(ValueError):
        log_format.configure("xml", node="n1", worker=0)


def serve_config(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers())
    return web_cli._config(parser.parse_args(["serve", *argv]))


def test_the_log_options_come_from_flags_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = serve_config([])
    assert (config.log_format, config.access_log) == ("text", True)
    monkeypatch.setenv("LIVECART_LOG_FORMAT", "json")
    monkeypatch.setenv("LIVECART_ACCESS_LOG", "0")
    config = serve_config([])
    assert (config.log_format, config.access_log) == ("json", False)
    assert serve_config(["--log-format", "text"]).log_format == "text"
    monkeypatch.setenv("LIVECART_ACCESS_LOG", "1")
    assert serve_config(["--no-access-log"]).access_log is False
    with pytest.raises(SystemExit):
        serve_config(["--log-format", "xml"])
