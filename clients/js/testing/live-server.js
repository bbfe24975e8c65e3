// What the tests in test/ share: the livecart server they run against (a real one,
// started by tests/node/test_js_client.py, which passes its address in the environment)
// and a client over the `ws` package that records what it sees.

import assert from "node:assert/strict";
import WebSocket from "ws";

import { RoomClient } from "../src/index.js";

/** @param {string} name */
function env(name) {
  const value = process.env[name];
  assert.ok(value, `${name} is not set: run these tests through tests/node/test_js_client.py`);
  return value;
}

export const SERVER = env("LIVECART_URL");
const ADMIN = env("LIVECART_ADMIN_TOKEN");

/** The server's lists of codes, to compare with the client's. */
export function serverCodes() {
  return {
    errors: JSON.parse(env("LIVECART_ERROR_CODES")),
    close: JSON.parse(env("LIVECART_CLOSE_CODES")),
  };
}

let rooms = 0;

/** A new room with a unique id; resolves with `{id, token}` (the host token). */
export async function createRoom() {
  const id = `js${process.pid}x${++rooms}`;
  const resp = await fetch(`${SERVER}/api/rooms`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ id, title: "Test show", host: "Mia" }),
  });
  const body = await resp.text();
  assert.equal(resp.status, 201, body);
  return { id, token: JSON.parse(body).host_token };
}

/** The host's chat through the HTTP API (not rate limited like a socket's). */
export async function hostChat(room, token, text) {
  const resp = await fetch(`${SERVER}/api/rooms/${room}/commands`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ cmd: "chat", text }),
  });
  const body = await resp.text();
  assert.equal(resp.status, 200, body);
}

/** The `ws` WebSocket, remembering every socket it opened (to cut one in a test). */
export function recordingWebSocket() {
  const sockets = [];
  class Recording extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      sockets.push(this);
    }
  }
  return { WebSocket: Recording, sockets };
}

/**
 * A started client with everything it emitted, in order, in `seen`
 * (`[type, value]` pairs). Stop it with `client.stop()`.
 */
export function watch(options) {
  const recording = recordingWebSocket();
  const client = new RoomClient({ url: SERVER, WebSocket: recording.WebSocket, ...options });
  const seen = [];
  for (const type of ["status", "snapshot", "resumed", "event", "live", "skipped", "disconnected", "closed"]) {
    client.on(type, (value) => seen.push([type, value]));
  }
  client.start();
  return { client, seen, sockets: recording.sockets };
}

/** Wait until `check()` returns something truthy; returns it. */
export async function until(check, what = "the condition", timeout = 5000) {
  const end = Date.now() + timeout;
  for (;;) {
    const got = check();
    if (got) return got;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The texts of the chat events among `seen`. */
export function chatTexts(seen) {
  return seen.filter(([type, e]) => type === "event" && e.type === "chat").map(([, e]) => e.text);
}
