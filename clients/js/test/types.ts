// Compiled by `tsc --noEmit` only (node --test runs the *.test.js files): the types a
// TypeScript app sees, and the mistakes they refuse.
import WebSocket from "ws";

import { Closed, CommandError, RoomClient, type RoomEvent } from "../src/index.js";

const room = new RoomClient({ url: "http://127.0.0.1:8080", room: "demo", name: "Ann", WebSocket });

room.on("event", (event: RoomEvent) => {
  if (event.type === "chat" && "text" in event) {
    const text: string = event.text;
    void text;
  }
});
room.on("snapshot", (snapshot) => {
  const recovered: false = snapshot.recovered;
  const title: string = snapshot.room.title;
  void recovered, title;
});
room.on("resumed", (resumed) => {
  const since: number = resumed.since;
  void since;
});
room.on("closed", (closed: Closed) => {
  const code: number | null = closed.code;
  void code;
});
const off: () => void = room.on("status", (status) => {
  // @ts-expect-error: not a status
  if (status === "gone") off();
});
// @ts-expect-error: not an event of the client
room.on("message", () => {});
// @ts-expect-error: the room id is required
new RoomClient({ url: "http://127.0.0.1:8080", WebSocket });

export async function typed(): Promise<void> {
  const seq: number = await room.chat("hi");
  const data = await room.command("reorder", { lineup: ["p1"] }, { timeout: 1000 });
  const reservation = await room.buy("p1", 1);
  // @ts-expect-error: a chat text is a string
  await room.chat(42);
  try {
    await room.heart(3);
  } catch (err) {
    if (err instanceof CommandError && err.code === "rate_limited") {
      const wait: number | undefined = err.retryAfter;
      void wait;
    }
  }
  void seq, data, reservation;
}
