// Reconnecting: a resume delivers what was missed exactly once and in order; a gap only
// ever shows as a fresh snapshot.

import assert from "node:assert/strict";
import test from "node:test";

import { chatTexts, createRoom, hostChat, until, watch } from "../testing/live-server.js";

const FAST = { first: 300, limit: 1000 };

test("a socket cut from the client side resumes with no gap and no duplicate", async () => {
  const { id, token } = await createRoom();
  const ann = watch({ room: id, name: "Ann", backoff: FAST });
  try {
    await ann.client.ready();
    const sent = ["before"];
    await hostChat(id, token, "before");
    await until(() => chatTexts(ann.seen).includes("before"), "the first message");
    const vid = ann.client.you.vid;
    ann.sockets[0].terminate(); // the TCP connection is gone, without a close frame
    // while the client is away: it comes back no sooner than 0.3 s
    for (let i = 0; i < 10; i++) {
      sent.push(`missed ${i}`);
      await hostChat(id, token, sent.at(-1));
    }
    const [, lost] = await until(() => ann.seen.find(([type]) => type === "disconnected"), "the drop");
    assert.equal(lost.code, 1006);
    const [, resumed] = await until(() => ann.seen.find(([type]) => type === "resumed"), "the resume");
    assert.equal(resumed.you.vid, vid);
    assert.ok(resumed.seq > resumed.since, "the resume replayed what was missed");
    for (let i = 0; i < 5; i++) {
      sent.push(`after ${i}`);
      await hostChat(id, token, sent.at(-1));
    }
    await until(() => chatTexts(ann.seen).includes("after 4"), "the last message");
    assert.deepEqual(chatTexts(ann.seen), sent);
    const seqs = ann.seen.filter(([type]) => type === "event").map(([, e]) => e.seq);
    assert.deepEqual(seqs, seqs.map((_, i) => seqs[0] + i));
    assert.equal(ann.seen.filter(([type]) => type === "snapshot").length, 1);
    assert.equal(ann.sockets.length, 2);
    assert.match(ann.sockets[1].url, new RegExp(`since=${resumed.since}&epoch=`));
    assert.equal(ann.client.seq, seqs.at(-1));
    assert.ok((await ann.client.chat("back")) > seqs.at(-1));
  } finally {
    ann.client.stop();
  }
});

test("reconnect() with a new name resumes and keeps the identity", async () => {
  const { id, token } = await createRoom();
  const ann = watch({ room: id, name: "Ann" });
  try {
    await ann.client.ready();
    const vid = ann.client.you.vid;
    await hostChat(id, token, "one");
    await until(() => chatTexts(ann.seen).includes("one"), "the first message");
    ann.client.name = "Anna";
    ann.client.reconnect();
    await until(() => ann.seen.find(([type]) => type === "resumed"), "the resume");
    await hostChat(id, token, "two");
    await until(() => chatTexts(ann.seen).includes("two"), "the second message");
    assert.deepEqual(chatTexts(ann.seen), ["one", "two"]);
    assert.equal(ann.client.you.vid, vid);
    assert.equal(ann.client.you.name, "Anna");
  } finally {
    ann.client.stop();
  }
});

test("a position the server cannot resume from gets a fresh snapshot, recovered: false", async () => {
  const { id, token } = await createRoom();
  await hostChat(id, token, "held by the room");
  const ann = watch({ room: id, name: "Ann", resumeFrom: { epoch: "an-epoch-long-gone", seq: 3 } });
  try {
    await ann.client.ready();
    assert.match(ann.sockets[0].url, /since=3&epoch=an-epoch-long-gone/);
    const types = ann.seen.map(([type]) => type);
    assert.ok(!types.includes("resumed"));
    const [, snapshot] = ann.seen.find(([type]) => type === "snapshot");
    assert.equal(snapshot.recovered, false);
    assert.notEqual(snapshot.epoch, "an-epoch-long-gone");
    assert.deepEqual(snapshot.chat.map((m) => m.text), ["held by the room"]);
    assert.deepEqual(ann.client.position(), { epoch: snapshot.epoch, seq: snapshot.seq });
  } finally {
    ann.client.stop();
  }
});
