// The protocol core without a socket: the position, and each event once and in order
// whatever the frames repeat.

import assert from "node:assert/strict";
import test from "node:test";

import { Backoff, ClientProtocol } from "../src/index.js";

const you = { vid: "v1", token: "v1.sig", name: "Ann", role: "viewer", muted: false };
/** @param {number} seq */
const chat = (seq) => ({ seq, ts: 1, type: "chat", id: seq, user: { vid: "v2", name: "Bo", role: "viewer" }, text: `m${seq}` });
const seqs = (got) => got.events.map((e) => e.seq);

test("each event once, in order: repeats are dropped, the position moves", () => {
  const p = new ClientProtocol({ viewerToken: "old" });
  assert.deepEqual(p.query(), { vid: "old" });
  const joined = p.receive({ t: "snapshot", recovered: false, epoch: "e1", seq: 5, you, chat: [] });
  assert.equal(joined.snapshot?.seq, 5);
  assert.deepEqual(p.query(), { vid: "v1.sig", since: "5", epoch: "e1" });
  // the first batch after a snapshot may repeat what the snapshot holds
  const batch = p.receive({ t: "batch", events: [chat(4), chat(5), chat(6)], live: { viewers: 3 }, skipped: 2 });
  assert.deepEqual(seqs(batch), [6]);
  assert.deepEqual(batch.frame && batch.frame.events.map((e) => e.seq), [6]);
  assert.deepEqual(batch.live, { viewers: 3 });
  assert.equal(batch.skipped, 2);
  assert.deepEqual(seqs(p.receive({ t: "batch", events: [chat(6), { seq: "x" }, chat(7)] })), [7]);
  const resumed = p.receive({ t: "resume", recovered: true, epoch: "e1", seq: 9, you, events: [chat(7), chat(8), chat(9)], live: {} });
  assert.deepEqual(resumed.resumed && [resumed.resumed.since, resumed.resumed.seq], [7, 9]);
  assert.deepEqual(seqs(resumed), [8, 9]);
  assert.deepEqual(p.position(), { epoch: "e1", seq: 9 });
});

test("a resume in another epoch is not applied; a fresh snapshot replaces the position", () => {
  const p = new ClientProtocol({ resumeFrom: { epoch: "e1", seq: 40 } });
  assert.deepEqual(p.query(), { since: "40", epoch: "e1" });
  const wrong = p.receive({ t: "resume", recovered: true, epoch: "e2", seq: 50, you, events: [chat(41)], live: {} });
  assert.deepEqual(wrong, { events: [] });
  const fresh = p.receive({ t: "snapshot", recovered: false, epoch: "e2", seq: 3, you, chat: [] });
  assert.equal(fresh.snapshot?.epoch, "e2");
  assert.deepEqual(seqs(p.receive({ t: "batch", events: [chat(3), chat(4)] })), [4]);
  assert.deepEqual(p.receive({ t: "something-newer" }), { events: [] });
  assert.throws(() => p.command("chat", { id: 1 }), TypeError);
  assert.deepEqual(p.command("chat", { text: "hi" }), [1, { id: 1, cmd: "chat", text: "hi" }]);
});

test("backoff: 0.5 s doubling to 10 s, plus up to 30 % jitter, reset after a join", () => {
  const b = new Backoff({ random: () => 0 });
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(() => b.nextDelay()), [500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
  b.reset();
  assert.equal(b.nextDelay(), 500);
  const most = new Backoff({ random: () => 0.999999 });
  assert.ok(Math.abs(most.nextDelay() - 650) < 0.01);
});
