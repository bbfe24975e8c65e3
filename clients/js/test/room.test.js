// Joining, chatting and the documented refusals, against a real livecart server.

import assert from "node:assert/strict";
import test from "node:test";

import { CLOSE_CODES, CommandError, ERROR_CODES, PROTOCOL } from "../src/index.js";
import { createRoom, serverCodes, until, watch } from "../testing/live-server.js";

test("joins with a snapshot over livecart.v1.json", async () => {
  const { id, token } = await createRoom();
  const ann = watch({ room: id, name: "Ann" });
  const host = watch({ room: id, token });
  try {
    await Promise.all([ann.client.ready(), host.client.ready()]);
    const [, snapshot] = ann.seen.find(([type]) => type === "snapshot");
    assert.equal(snapshot.recovered, false);
    assert.equal(snapshot.room.title, "Test show");
    assert.equal(snapshot.you.name, "Ann");
    assert.equal(snapshot.you.role, "viewer");
    assert.equal(snapshot.banned_words, undefined);
    assert.equal(ann.client.seq, snapshot.seq);
    assert.equal(ann.client.epoch, snapshot.epoch);
    assert.equal(ann.client.viewerToken, snapshot.you.token);
    assert.equal(ann.sockets[0].protocol, PROTOCOL);
    assert.deepEqual(ann.seen.filter(([type]) => type === "status").map(([, s]) => s), ["connecting", "open"]);
    assert.equal(host.client.you.role, "host");
    assert.equal(host.client.you.name, "Mia");
    // the host token rides as a subprotocol, never in the URL
    assert.ok(!host.sockets[0].url.includes(token));
    assert.equal(host.sockets[0].protocol, PROTOCOL);
  } finally {
    ann.client.stop();
    host.client.stop();
  }
});

test("a chat message goes round: the reply's seq is the event everyone sees", async () => {
  const { id, token } = await createRoom();
  const ann = watch({ room: id, name: "Ann" });
  const host = watch({ room: id, token });
  try {
    await Promise.all([ann.client.ready(), host.client.ready()]);
    const seq = await ann.client.chat("  hello  ");
    const [, chat] = await until(
      () => host.seen.find(([type, e]) => type === "event" && e.type === "chat"),
      "the chat event",
    );
    assert.equal(chat.seq, seq);
    assert.equal(chat.id, seq);
    assert.equal(chat.text, "hello");
    assert.deepEqual(chat.user, { vid: ann.client.you.vid, name: "Ann", role: "viewer" });
    assert.equal(host.client.seq, seq);
    const serverNow = await ann.client.ping();
    assert.ok(Math.abs(serverNow - Date.now()) < 60_000);
    assert.ok(Math.abs(ann.client.now() - Date.now()) < 60_000);
  } finally {
    ann.client.stop();
    host.client.stop();
  }
});

test("refused commands reject with CommandError and the documented code", async () => {
  const { id } = await createRoom();
  const ann = watch({ room: id, name: "Ann" });
  try {
    await ann.client.ready();
    /** @param {Promise<unknown>} promise @param {string} code */
    const refused = (promise, code) =>
      assert.rejects(promise, (err) => err instanceof CommandError && err.code === code && Boolean(err.message));
    await refused(ann.client.chat("x".repeat(281)), "text_too_long");
    await refused(ann.client.command("pin", { product_id: "p1" }), "forbidden");
    await refused(ann.client.command("launch_rockets"), "bad_command");
    await refused(ann.client.heart(0), "bad_args");
    await refused(ann.client.explain("nope"), "not_found");
    assert.equal(ann.client.status, "open"); // a refusal changes nothing, the socket stays
  } finally {
    ann.client.stop();
  }
  await assert.rejects(ann.client.chat("after stop"), (err) => err instanceof CommandError && err.code === "disconnected");
});

test("the client's codes are the server's", () => {
  const server = serverCodes();
  assert.deepEqual([...ERROR_CODES].sort(), [...server.errors].sort());
  assert.deepEqual({ ...CLOSE_CODES }, server.close);
});
