"""The replay timeline, chapters, state at a moment and deletions: pure rules."""

from __future__ import annotations

import datetime
import math

from livecart.chat import replay
from livecart.streamer.hls import PlaylistEntry, media_playlist, program_date_time
from livecart.streamer.timeline import Timeline

T0 = 1_700_000_000.0
SEGMENTS = [
    {"index": i, "start": 0.5 + 2 * i, "duration": 2.0, "program_time": T0 + 2 * i}
    for i in range(5)
]


def test_media_and_server_time_map_both_ways_inside_segments() -> None:
    line = Timeline(SEGMENTS)
    assert line.first == 0.5 and line.end == 10.5 and line.duration == 10.0
    assert line.media_time(T0 + 3.25) == 0.5 + 3.25
    assert line.server_time(0.5 + 3.25) == T0 + 3.25
    assert line.media_time(T0 - 100) == 0.5  # before the show: its first frame
    assert line.media_time(T0 + 1000) == 10.5  # after: its end
    assert line.covering(3.0, 7.2) == line.spans[1:4]
    assert line.covering(2.5, 4.5) == line.spans[1:2]  # ends at a boundary: no extra one
    assert not Timeline([{"index": 0, "start": 0, "duration": 2}])  # no program_time


def test_a_gap_between_segments_maps_to_the_next_segment() -> None:
    gap = [*SEGMENTS[:2], {"index": 2, "start": 4.5, "duration": 2.0, "program_time": T0 + 10}]
    line = Timeline(gap)
    assert line.media_time(T0 + 6) == 4.5


def test_program_date_time_is_iso_utc_with_milliseconds() -> None:
    for seconds in (0.0, T0 + 0.4567, 951_782_400.0, 4_102_444_799.999):
        expected = datetime.datetime.fromtimestamp(round(seconds, 3), datetime.UTC)
        assert program_date_time(seconds) == expected.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    text = media_playlist(
        [
            PlaylistEntry(0, "a.m4s", "i.mp4", 2.0, False, T0),
            PlaylistEntry(1, "b.m4s", "i.mp4", 2.0, False),
        ],
        ended=True,
    )
    assert text.count("#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z") == 1
    assert text.index("#EXT-X-PROGRAM-DATE-TIME") < text.index("a.m4s")


LOG = [
    {
        "type": "snapshot",
        "ts": 1000,
        "pinned": None,
        "products": {"a": {"id": "a"}},
        "lineup": ["a"],
        "sales": {},
    },
    {"seq": 2, "type": "pin", "ts": 2000, "product_id": "a"},
    {"seq": 3, "type": "pin", "ts": 2500, "product_id": "a"},
    {"seq": 5, "type": "chat_deleted", "ts": 3000, "id": 4},
    {"seq": 6, "type": "sale", "ts": 3500, "product_id": "a", "sale": {"price": 900}},
    {"seq": 7, "type": "pin", "ts": 4000, "product_id": "b"},
    {"seq": 8, "type": "pin", "ts": 6000, "product_id": None},
    {"seq": 9, "type": "pin", "ts": 7000, "product_id": "a"},
]


def test_chapters_are_pins_to_the_next_pin_counted_per_product() -> None:
    chapters = replay.chapters(LOG)
    assert [(c.key, c.start_ms, c.end_ms) for c in chapters] == [
        ("a:0", 2000, 4000),  # pinned again while pinned: the same chapter
        ("b:0", 4000, 6000),  # unpinned at 6 s
        ("a:1", 7000, None),  # to the end
    ]
    started_pinned = [{**LOG[0], "pinned": "z"}, LOG[5]]
    assert [c.key for c in replay.chapters(started_pinned)] == ["z:0", "b:0"]


def test_state_at_a_moment_and_deleted_chat() -> None:
    assert replay.state_at(LOG, 1500)["pinned"] is None
    assert replay.state_at(LOG, 2000)["pinned"] == "a"
    assert replay.state_at(LOG, 3600)["sales"] == {"a": {"price": 900}}
    assert replay.state_at(LOG, 4500)["pinned"] == "b"
    assert replay.state_at(LOG, math.inf)["pinned"] == "a"
    deleted = replay.deleted_ids(LOG)
    assert deleted == {4}
    chat = [{"seq": s, "ts": 1000 * s, "type": "chat", "text": "x"} for s in (1, 4, 10)]
    assert [c["id"] for c in replay.visible_chat(chat, deleted, 0, 10_000)] == [1]


def test_the_stock_label_follows_the_sampled_stock_records() -> None:
    sale = {"price": 900, "units_left": 5, "state": "open"}
    log = [
        {**LOG[0], "sales": {"a": sale}},
        {"seq": 2, "type": "stock", "ts": 2000, "stock": {"a": 4, "gone": 1}},
        {
            "seq": 3,
            "type": "sale",
            "ts": 3000,
            "product_id": "a",
            "sale": {**sale, "units_left": 4},
        },
        {"seq": 3, "type": "stock", "ts": 3400, "stock": {"a": 2}},
        {"seq": 4, "type": "stock", "ts": 4400, "stock": {"a": 0}},
    ]
    units = [
        replay.state_at(log, t)["sales"]["a"]["units_left"] for t in (1999, 2000, 3399, 3400, 4400)
    ]
    assert units == [5, 4, 4, 2, 0]
    assert "gone" not in replay.state_at(log, 5000)["sales"]  # no sale: no label
    assert log[0]["sales"]["a"]["units_left"] == 5  # the log itself is left as it was
