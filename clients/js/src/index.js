// @livecart/client: a client for livecart live-shopping rooms (docs/protocol.md).
//
// - client.js: RoomClient, the socket, reconnects, commands;
// - protocol.js: the position in the room's sequence and what each frame means; pure;
// - errors.js: CommandError, Closed and the documented codes;
// - wire.js: the protocol's shapes, as types only.

export { RoomClient, PROTOCOL, newKey, roomUrl } from "./client.js";
export { Backoff, ClientProtocol } from "./protocol.js";
export { CLIENT_CODES, CLOSE_CODES, Closed, CommandError, ERROR_CODES, FINAL_CLOSE_CODES } from "./errors.js";

/**
 * @typedef {import("./client.js").ClientEvents} ClientEvents
 * @typedef {import("./client.js").RoomClientOptions} RoomClientOptions
 * @typedef {import("./client.js").Status} Status
 * @typedef {import("./protocol.js").Resumed} Resumed
 * @typedef {import("./protocol.js").Position} Position
 * @typedef {import("./errors.js").ErrorCode} ErrorCode
 * @typedef {import("./errors.js").ClientCode} ClientCode
 * @typedef {import("./wire.js").You} You
 * @typedef {import("./wire.js").RoomInfo} RoomInfo
 * @typedef {import("./wire.js").Product} Product
 * @typedef {import("./wire.js").Sale} Sale
 * @typedef {import("./wire.js").LiveValues} LiveValues
 * @typedef {import("./wire.js").RoomEvent} RoomEvent
 * @typedef {import("./wire.js").KnownEvent} KnownEvent
 * @typedef {import("./wire.js").ChatEvent} ChatEvent
 * @typedef {import("./wire.js").SnapshotFrame} SnapshotFrame
 * @typedef {import("./wire.js").ResumeFrame} ResumeFrame
 * @typedef {import("./wire.js").BatchFrame} BatchFrame
 * @typedef {import("./wire.js").RoomFrame} RoomFrame
 * @typedef {import("./wire.js").WebSocketLike} WebSocketLike
 * @typedef {import("./wire.js").WebSocketConstructor} WebSocketConstructor
 */
