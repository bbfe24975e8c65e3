"""livecart checkout: flash sales, stock holds, payments and orders on Redis.

This package imports nothing: import the module you need, so that a pure one does not
pull in Redis or aiohttp. docs/checkout.md describes what clients see, the life cycle,
the Redis keys and how a real payment provider plugs in.

Pure (plain data, no I/O, no asyncio):

- ``errors``: the error tree and the refusal codes;
- ``validation``: raw arguments into typed requests (``BuyRequest``, ``PayRequest``, ...);
- ``lifecycle``: the reservation life cycle as one transition table;
- ``orders``: order records, the CSV export, figures and commission;
- ``audit``: the books' invariants as a check over what Redis read.

Ports and their implementations:

- ``payments``: the payment provider port; ``sandbox``: the built-in provider.
- ``show_end``: ending a show (close sales, end, export, start the webhook) over ports
  for the room, the books and the webhook.

On Redis (the entry point is ``service.CheckoutService``, the facade over the parts):

- ``datastore``: the shared Redis, scripts and clock; ``scripts``: the Lua scripts and
  the mapping of Redis failures;
- ``sales``: stock and flash sales; ``buying``: a buy becomes a hold (batched by
  ``reserve_batch``); ``payment_saga``: a payment from hold to order, release or refund;
- ``reconciliation``: ``sweep`` (expiries, late refunds, unrecorded orders), over the
  room index of ``room_index``; ``sweeper``: the background loop that runs it;
- ``reports``: figures, orders, export, audit, delivery status.

Adapters: ``hub_adapter`` (the chat hub's ``CheckoutPort``), ``fulfilment`` (the
webhook over aiohttp), ``deliveries`` (this node's webhook deliveries, one per room).
"""

if __name__ != "livecart.checkout":  # one importable name: docs/architecture.md, "Packaging"
    raise ImportError(f"{__name__}: this folder is the package livecart.checkout; import that")
