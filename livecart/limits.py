"""Every limit on what a client may send, defined once.

Each constant bounds one thing a viewer, a host, a shop or a WHIP publisher hands the
server (a field of a command, an HTTP body, a frame) or makes it keep; the comment line
above it says what it bounds and, after the colon, why that value. The parsers
(``chat.commands``, ``checkout.validation``, ``checkout.auctions``), the HTTP
declarations (``web.schemas``) and the adapters import them from here, and
docs/protocol.md's "Limits" table is rendered from this file (``python -m
livecart.limits`` prints it; ``tests/pure/test_limits_doc.py`` fails when the doc's table
differs).

Money: amounts are integers in minor units and must stay exact in Lua's doubles and in
cjson's 14 significant digits, where an order's total (price × quantity) is computed:
``MAX_PRICE × MAX_QTY`` = 10¹² keeps every total exact.

Not here: the server's own tuning (tick lengths, fan-out chunks, pools, sweeper pace,
collection policy), the slow-consumer byte limits (``livecart.transport``), what checkout
keeps in Redis per room (``checkout.bounds``, rendered into the Lua scripts) and the
operator's settings (``web.config``). Pure: no I/O but reading this file for the table.
"""

from __future__ import annotations

import itertools
import re
import sys

# -- the WebSocket --------------------------------------------------------------------
# one client frame (close 1009 past it): the biggest command is a few KiB
MAX_CLIENT_FRAME_BYTES = 16 * 1024
# a command's string `id`, echoed in its reply: room for a UUID and a prefix
MAX_COMMAND_ID_LEN = 64

# -- people and text ------------------------------------------------------------------
# a viewer's display name, in characters: fits one line of the chat on a phone
MAX_DISPLAY_NAME = 32
# a chat message after normalizing and trimming, in characters: a short post
MAX_CHAT_LEN = 280
# combining marks kept in a row on one letter: enough for any script, not for "zalgo" text
MAX_MARKS = 3
# hearts in one `heart` command: a burst of taps, not a counter a client can inflate
MAX_HEARTS = 50
# words in a room's `banned_words` list: every message is matched against all
MAX_BANNED_WORDS = 200
# characters in one banned word: longer than any real word
MAX_BANNED_WORD_LEN = 40
# a room's `set_lang` tag: BCP 47 language-script-region fits
MAX_LANG_TAG_LEN = 20
# slow mode's seconds between a viewer's messages: an hour is already silence
MAX_SLOW_MODE_S = 3600
# a `buyer_auth` JWT, in characters: an RS256 token with claims fits twice
MAX_BUYER_TOKEN_LEN = 8192
# a buyer token's `sub` (the shop's user id): it becomes the buyer id `u:<sub>`
MAX_BUYER_SUB_LEN = 100
# client addresses one room's bans keep out: bounds the ban set in Redis and memory
MAX_BANNED_ADDRESSES = 10_000

# -- catalogue and lineup -------------------------------------------------------------
# a product id ([A-Za-z0-9_-]): a SKU fits, and it is part of Redis keys
MAX_PRODUCT_ID_LEN = 40
# a product's name, in characters: one line on the product card
MAX_PRODUCT_NAME_LEN = 80
# a product's image URL: a CDN URL with a query string fits
MAX_IMAGE_URL_LEN = 500
# a price, start price, bid or increment, in minor units: with MAX_QTY, totals stay exact
MAX_PRICE = 10**9
# a product's stock when added, and units added to it: more than any show sells
MAX_STOCK = 10**7
# products in a show's lineup: more than a host can present in one show
MAX_LINEUP = 500

# -- buying ---------------------------------------------------------------------------
# an idempotency key ([A-Za-z0-9_-]), at least: too short to collide by accident
MIN_KEY_LEN = 8
# an idempotency key, at most: a UUID with a prefix fits
MAX_KEY_LEN = 64
# units in one `buy`: with MAX_PRICE, an order's total stays exact
MAX_QTY = 1000
# units a flash sale offers: bounds the sale's holds and orders
MAX_SALE_UNITS = 1_000_000
# a sale's `limit` (units per buyer): no more than one `buy` may take
MAX_PER_BUYER = 1000
# a time in ms since the epoch (`opens_at`, `ends_at`): year 2286, exact in a double
MAX_TIME_MS = 10**13
# a sale's `hold_seconds`, at least: time to type a card number
MIN_HOLD_SECONDS = 10
# a sale's `hold_seconds`, at most: held units come back within the hour
MAX_HOLD_SECONDS = 3600

# -- auctions and giveaways -----------------------------------------------------------
# an auction's `duration`, at least: time for a first bid
MIN_AUCTION_S = 5
# an auction's `duration`, at most: a live auction is minutes, not hours
MAX_AUCTION_S = 300
# an auction's `counter_seconds` (the reset after a late bid): a minute, then the show moves on
MAX_COUNTER_S = 60
# rows of an auction's `increments` table: every bid reads it in Lua
MAX_INCREMENT_ROWS = 20
# a giveaway's `duration`, at least: time for viewers to enter
MIN_GIVEAWAY_S = 5
# a giveaway's `duration`, at most: ten minutes of a show
MAX_GIVEAWAY_S = 600
# a `watched` giveaway's `watched_seconds`: an hour of watching
MAX_WATCHED_S = 3600

# -- the HTTP API and replays ---------------------------------------------------------
# a room id ([a-z0-9-]): part of URLs and of every Redis key of the room
MAX_ROOM_ID_LEN = 40
# a room's title, in characters: a headline
MAX_ROOM_TITLE_LEN = 120
# a room's host name, in characters: shown beside the title
MAX_HOST_NAME_LEN = 60
# chapters a host hides in one replay: more than a show has
MAX_HIDDEN_CHAPTERS = 1000
# seconds of a show's events one replay request reads: bounds the reply
MAX_REPLAY_WINDOW_S = 600
# seconds of one replay clip: bounds the MP4 written per request
MAX_CLIP_S = 600

# -- video ----------------------------------------------------------------------------
# a WHIP SDP offer: a browser's offer is a few KiB
MAX_OFFER_BYTES = 64 * 1024

_CONSTANT = re.compile(r"([A-Z][A-Z0-9_]*) = ")


def documented() -> list[tuple[str, int, str]]:
    """``(name, value, comment)`` of every constant above, in the file's order: the
    comment is the line just above the constant."""
    module = sys.modules[__name__]
    with open(__file__, encoding="utf-8") as source:
        lines = source.read().splitlines()
    rows = []
    for above, line in itertools.pairwise(lines):
        if (m := _CONSTANT.match(line)) and above.startswith("# "):
            rows.append((m[1], getattr(module, m[1]), above[2:]))
    return rows


def _value(name: str, value: int) -> str:
    if name.endswith("_BYTES") and value % 1024 == 0:
        return f"{value // 1024:,} KiB"
    if value >= 10**7 and str(value).rstrip("0") == "1":
        return f"10^{len(str(value)) - 1}"
    return f"{value:,}"


def table() -> str:
    """The "Limits" table of docs/protocol.md, as markdown."""
    rows = ["| limit | value | what it bounds, and why |", "|---|---|---|"]
    rows += [f"| `{name}` | {_value(name, v)} | {why} |" for name, v, why in documented()]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(table(), end="")
