// Close codes after which reconnecting cannot help end the client for good.

import assert from "node:assert/strict";
import test from "node:test";

import { CLOSE_CODES, Closed, CommandError } from "../src/index.js";
import { createRoom, until, watch } from "../testing/live-server.js";

/** No new socket for a while: the client gave up as it should. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 800));
const FAST = { first: 100, limit: 200 };

test("a wrong host token closes with 4001 for good", async () => {
  const { id } = await createRoom();
  const mallory = watch({ room: id, token: "host_wrong", backoff: FAST });
  await assert.rejects(mallory.client.ready(), (err) => err instanceof Closed && err.code === CLOSE_CODES.UNAUTHORIZED);
  assert.equal(mallory.client.status, "closed");
  assert.equal(mallory.client.closeCode, 4001);
  await settle();
  assert.equal(mallory.sockets.length, 1);
  await assert.rejects(mallory.client.ready(), Closed);
});

test("a room that does not exist closes with 4004 for good", async () => {
  const ghost = watch({ room: "no-such-room", backoff: FAST });
  await assert.rejects(ghost.client.ready(), (err) => err instanceof Closed && err.code === CLOSE_CODES.NO_SUCH_ROOM);
  await settle();
  assert.equal(ghost.sockets.length, 1);
  assert.deepEqual(ghost.seen.map(([type]) => type), ["status", "status", "closed"]);
});

test("a ban closes the viewer with 4003: it does not come back", async () => {
  const { id, token } = await createRoom();
  const host = watch({ room: id, token });
  const ann = watch({ room: id, name: "Ann", backoff: FAST });
  try {
    await Promise.all([host.client.ready(), ann.client.ready()]);
    await host.client.command("ban", { vid: ann.client.you.vid });
    const [, closed] = await until(() => ann.seen.find(([type]) => type === "closed"), "the close");
    assert.ok(closed instanceof Closed);
    assert.equal(closed.code, CLOSE_CODES.BANNED);
    assert.equal(ann.client.status, "closed");
    await assert.rejects(ann.client.chat("still there?"), (err) => err instanceof CommandError && err.code === "disconnected");
    await settle();
    assert.equal(ann.sockets.length, 1);
    assert.ok(!ann.seen.some(([type]) => type === "disconnected"));
  } finally {
    host.client.stop();
  }
});
