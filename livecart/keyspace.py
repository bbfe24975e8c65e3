"""The Redis key space: every key and channel name livecart uses, in one place.

Every key of one room starts with ``lc:{<room>}:`` so that all of them share one hash
slot: a Lua script or MULTI touches one room and one slot (Redis Cluster). Chat's scripts
(``chat/lua``) get every key they touch as ``KEYS``, named here; checkout's build the same
names from the prefix they get as ``KEYS[1]`` (``lc:{<room>}``).

A room's keys, by owner (docs/checkout.md describes checkout's):

- the room record and its events (``livecart.chat.store_redis``): ``meta`` (hash: id, title,
  host, commission_rate, epoch, ...; checkout's ``confirm.lua`` reads host and
  commission_rate from it), ``seq``, ``history``, ``catalog``, ``lineup``, ``pinned``,
  ``muted``, ``banned``, ``words``, ``hearts``, ``presence``, ``explain:rank``,
  ``explain:<product>``; the channel ``events``;
- shared chat limits (``livecart.chat.store_redis``, in the emit script's
  ``chat_budget.lua``):
  ``chat:v:<vid>`` and ``chat:a:<digest>`` (hashes ``tokens``, ``ts``, ``last``: one
  viewer's and one client address's message bucket, a few minutes' TTL) and
  ``banned_addr`` (hash: keyed address digest -> banned vid, bounded, 24 h TTL renewed
  on each ban; never a raw address);
- the per-show event log (``livecart.chat.show_log``; written by the emit script while
  meta's ``show_log`` names a show): ``showlog:<show>`` (stream: the show's chat events),
  ``showlog:<show>:state`` (stream: a snapshot at the start, then every other event),
  ``showlog:<show>:meta`` (hash: replay views, hidden chapters, chat dropped past the
  bound); all three expire after the retention and are deleted with the show;
- media (``livecart.streamer.cluster``): ``whip`` (the publisher's process and session);
  the channels ``media``, ``hls``, ``media:ctl`` and ``whip:reply:<process>``;
- commerce (``livecart.checkout``): ``stock:<p>``, ``sale:<p>``, ``buyers:<p>``,
  ``addr:<p>`` (unpaid holds per client address), ``hold:<r>``, ``idem:buy:<k>``,
  ``refused`` and ``refused_at`` (recent refused buys, bounded: ``checkout.bounds``),
  ``idem:pay:<k>``, ``products``, ``sales``, ``holds``,
  ``refunds``, ``unsettled``, ``orders``, ``figures``, ``fulfilment``, ``durable`` (a
  write that makes a Redis Cluster's ``WAIT`` cover a replayed order, see
  ``checkout.scripts``);
- auctions and giveaways (``livecart.checkout.auctions``, docs/auctions.md): ``auction``,
  ``idem:bid:<k>``, ``idem:auction:<k>``, ``giveaway``, ``giveaway:eligible``,
  ``giveaway:names``.

Keys outside any room are the module constants below; none is written by a script.
"""

from __future__ import annotations

from dataclasses import dataclass

ROOMS_INDEX = "lc:rooms"  # set of room ids
SECRET_KEY = "lc:secret"  # the install's signing secret (viewer tokens)
ADMIN_TOKEN_KEY = "lc:admin_token"  # the admin token, when generated
CHECKOUT_ROOMS = "lc:checkout:rooms"  # zset: room -> last time a hold was taken there (ms)
NODE_CHANNEL_PREFIX = "lc:node:"


def room_prefix(room_id: str) -> str:
    """``KEYS[1]`` of every checkout script: ``lc:{<room>}``."""
    return f"lc:{{{room_id}}}"


def room_key(room_id: str, name: str) -> str:
    """The room's key ``name`` (one of those listed above)."""
    return f"lc:{{{room_id}}}:{name}"


def chat_budget_key(room_id: str, who: str) -> str:
    """Hash: one message bucket of the room (``who``: ``v:<vid>`` or ``a:<digest>``)."""
    return room_key(room_id, f"chat:{who}")


def banned_addresses_key(room_id: str) -> str:
    """Hash: keyed digest of a banned viewer's client address -> that viewer's vid."""
    return room_key(room_id, "banned_addr")


def room_channel(room_id: str) -> str:
    """The pub/sub channel carrying the room's events."""
    return room_key(room_id, "events")


def room_of_channel(name: str) -> str:
    """The room id of a channel made by ``room_channel``."""
    return name[name.index("{") + 1 : name.rindex("}")]


def media_channel(room_id: str) -> str:
    """Binary pub/sub channel: the room's packaged video/audio, relayed by its origin
    (``livecart.streamer.cluster``) while other processes have viewers. Never a key."""
    return room_key(room_id, "media")


def hls_channel(room_id: str) -> str:
    """Binary pub/sub channel: the room's closed HLS segments (and playlist state),
    relayed by its origin while other processes serve its HLS."""
    return room_key(room_id, "hls")


def media_control_channel(room_id: str) -> str:
    """Pub/sub channel to the room's origin: viewers wanted, keyframe and WHIP requests."""
    return room_key(room_id, "media:ctl")


def whip_session_key(room_id: str) -> str:
    """String key ``<process> <session>``: the process holding the room's WHIP publisher
    (TTL, refreshed by that process)."""
    return room_key(room_id, "whip")


def whip_reply_channel(room_id: str, process: str) -> str:
    """Pub/sub channel carrying a routed WHIP request's answer back to ``process``."""
    return room_key(room_id, f"whip:reply:{process}")


def show_log_key(room_id: str, show: str) -> str:
    """Stream: the chat events of one show (``show`` is a recording id)."""
    return room_key(room_id, f"showlog:{show}")


def show_state_key(room_id: str, show: str) -> str:
    """Stream: a snapshot of the room when the show began, then every non-chat event."""
    return room_key(room_id, f"showlog:{show}:state")


def show_meta_key(room_id: str, show: str) -> str:
    """Hash: a show's replay settings and counters (views, hidden, dropped)."""
    return room_key(room_id, f"showlog:{show}:meta")


def node_channel(node_id: str) -> str:
    """The pub/sub channel of one node (messages addressed to that node alone)."""
    return NODE_CHANNEL_PREFIX + node_id


@dataclass(frozen=True, slots=True)
class RoomKeys:
    """Checkout's keys of one room."""

    room: str

    @property
    def prefix(self) -> str:
        """``KEYS[1]`` of every script."""
        return room_prefix(self.room)

    def _k(self, suffix: str) -> str:
        return room_key(self.room, suffix)

    def stock(self, product_id: str) -> str:
        """Hash: a product's ``initial``, ``available``, ``reserved`` and ``sold`` units."""
        return self._k(f"stock:{product_id}")

    def sale(self, product_id: str) -> str:
        """Hash: a product's flash sale (terms, units left, window, generation, closed flag)."""
        return self._k(f"sale:{product_id}")

    def buyers(self, product_id: str) -> str:
        """Hash: buyer -> units held, pending or ordered of a product (the per-buyer limit's
        count)."""
        return self._k(f"buyers:{product_id}")

    def addresses(self, product_id: str) -> str:
        """Hash: client address -> its anonymous buyers' live unpaid purchases of a product."""
        return self._k(f"addr:{product_id}")

    def hold(self, reservation_id: str) -> str:
        """Hash: one reservation (its state, buyer, amount, keys and outcome)."""
        return self._k(f"hold:{reservation_id}")

    @property
    def refused(self) -> str:
        """Hash: buy key -> fingerprint and reply of a refused buy, kept a few minutes."""
        return self._k("refused")

    @property
    def refused_at(self) -> str:
        """Sorted set: the refused buy keys by refusal time (which entries to trim)."""
        return self._k("refused_at")

    def buy_key(self, key: str) -> str:
        """Hash: a buy's idempotency record (fingerprint, state, the reservation)."""
        return self._k(f"idem:buy:{key}")

    def pay_key(self, key: str) -> str:
        """Hash: a payment's idempotency record (fingerprint, state, lease, reply)."""
        return self._k(f"idem:pay:{key}")

    @property
    def products(self) -> str:
        """Set: the room's product ids with stock."""
        return self._k("products")

    @property
    def sales(self) -> str:
        """Set: the room's product ids with a sale."""
        return self._k("sales")

    @property
    def holds(self) -> str:
        """Sorted set: live reservation ids by expiry (the sweeper's queue)."""
        return self._k("holds")

    @property
    def refunds(self) -> str:
        """Sorted set: reservations whose late charge still has to be refunded."""
        return self._k("refunds")

    @property
    def unsettled(self) -> str:
        """Sorted set: expired reservations with a payment attempt that never reported back
        (checked with the provider, or left for reconciliation)."""
        return self._k("unsettled")

    @property
    def orders(self) -> str:
        """Stream: one entry per order."""
        return self._k("orders")

    @property
    def meta(self) -> str:
        """Hash: the room's host and commission rate, as written by the hub."""
        return self._k("meta")

    @property
    def figures(self) -> str:
        """Hash: the room's order, unit and revenue counters."""
        return self._k("figures")

    @property
    def fulfilment(self) -> str:
        """String: the JSON status of the room's last webhook delivery."""
        return self._k("fulfilment")

    @property
    def durable(self) -> str:
        """String: the time of the latest confirmed write on a Redis Cluster (what ``WAIT``
        waits on)."""
        return self._k("durable")

    @property
    def auction(self) -> str:
        """Hash: the room's current (or last) auction."""
        return self._k("auction")

    def bid_key(self, key: str) -> str:
        """Hash: a bid's idempotency record (fingerprint, first reply)."""
        return self._k(f"idem:bid:{key}")

    def auction_key(self, key: str) -> str:
        """Hash: a ``start_auction``'s idempotency record (fingerprint, first reply)."""
        return self._k(f"idem:auction:{key}")

    @property
    def giveaway(self) -> str:
        """Hash: the room's current (or last) giveaway."""
        return self._k("giveaway")

    @property
    def giveaway_eligible(self) -> str:
        """Set: viewer ids eligible for the open giveaway."""
        return self._k("giveaway:eligible")

    @property
    def giveaway_names(self) -> str:
        """Hash: eligible viewer id -> display name."""
        return self._k("giveaway:names")
