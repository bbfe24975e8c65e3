"""A chat bot: answers "price?" with the pinned product's price.

python examples/price_bot.py http://localhost:8080 demo
"""

import asyncio
import sys

from livecart import client


async def run(url: str, room_id: str) -> None:
    async with client.connect(url, room_id, name="PriceBot") as room:
        async for event in room.events():  # reconnects and resumes by itself
            if not isinstance(event, client.ChatMessage) or event.user.vid == room.you.vid:
                continue
            if "price?" not in event.text.lower():
                continue
            product = room.state.pinned_product
            if product is None:
                answer = "Nothing is pinned right now."
            else:  # prices are in the currency's minor unit (fen, cents)
                answer = f"{product['name']}: {product['price'] / 100:.2f} {product['currency']}"
            try:
                await room.chat(answer)
            except client.CommandError as exc:  # rate_limited, slow_mode, muted...
                print("not answered:", exc.code, file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], sys.argv[2]))
