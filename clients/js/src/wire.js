// The shapes of docs/protocol.md (version 1, JSON), as types for editors and TypeScript.
// This module holds no code: only the JSDoc typedefs the other modules import.
// Every object may carry more fields than listed: a newer server may add some.

/**
 * @typedef {"viewer" | "host"} Role
 *
 * @typedef {object} You  this connection's identity; send `token` back as `vid`
 * @property {string} vid
 * @property {string} token
 * @property {string} name
 * @property {Role} role
 * @property {boolean} muted
 *
 * @typedef {object} RoomInfo
 * @property {string} id
 * @property {string} title
 * @property {string} host
 * @property {"scheduled" | "live" | "ended"} status
 * @property {number} slow_mode  seconds; 0: off
 * @property {string} [lang]  the room's default page language ("" for none)
 *
 * @typedef {object} Product  prices in the currency's minor unit (cents, fen)
 * @property {string} id
 * @property {string} name
 * @property {number} price
 * @property {string} currency
 * @property {string} image_url
 * @property {number} stock
 *
 * @typedef {object} Sale  docs/checkout.md
 * @property {string} product_id
 * @property {number} price
 * @property {string} currency
 * @property {number} units
 * @property {number} limit
 * @property {number | null} opens_at
 * @property {number | null} ends_at
 * @property {string} state
 * @property {number} hold_seconds
 * @property {string} policy
 *
 * @typedef {{[key: string]: unknown}} WireObject  an object as it came off the wire
 *
 * @typedef {object} LiveValues  only the values that changed, in a batch
 * @property {number} [viewers]
 * @property {number} [hearts]  taps since the previous frame: add them up
 * @property {number} [hearts_total]  snapshot and resume only
 * @property {Array<[string, number]>} [explain]
 * @property {{[productId: string]: number}} [stock]
 * @property {Array<{name: string, product_id: string, qty: number}>} [bought]
 */

/**
 * @typedef {object} EventBase
 * @property {number} seq  1, 2, 3, ... per room, no gaps
 * @property {number} ts  server time, ms since the Unix epoch
 *
 * @typedef {{vid: string, name: string, role: Role}} ChatUser
 * @typedef {EventBase & {type: "chat", id: number, user: ChatUser, text: string}} ChatEvent
 * @typedef {EventBase & {type: "chat_deleted", id: number}} ChatDeletedEvent
 * @typedef {EventBase & {type: "room", room: RoomInfo}} RoomChangedEvent
 * @typedef {EventBase & {type: "product", product: Product}} ProductEvent
 * @typedef {EventBase & {type: "lineup", lineup: string[]}} LineupEvent
 * @typedef {EventBase & {type: "pin", product_id: string | null}} PinEvent
 * @typedef {EventBase & {type: "moderation", action: "mute" | "unmute" | "ban" | "unban", vid: string}} ModerationEvent
 * @typedef {EventBase & {type: "sale", product_id: string, sale: Sale | null}} SaleEvent
 * @typedef {EventBase & {type: "auction", auction: WireObject}} AuctionEvent
 * @typedef {EventBase & {type: "giveaway", giveaway: WireObject}} GiveawayEvent
 *
 * @typedef {ChatEvent | ChatDeletedEvent | RoomChangedEvent | ProductEvent | LineupEvent
 *   | PinEvent | ModerationEvent | SaleEvent | AuctionEvent | GiveawayEvent} KnownEvent
 * @typedef {EventBase & {type: string}} UnknownEvent  a kind this version does not know
 * @typedef {KnownEvent | UnknownEvent} RoomEvent  a sequenced event; narrow on `type`
 */

/**
 * @typedef {object} SnapshotFrame  a fresh join (or a replaced room): drop what you hold
 * @property {"snapshot"} t
 * @property {false} recovered
 * @property {string} epoch
 * @property {number} seq
 * @property {You} you
 * @property {RoomInfo} room
 * @property {{[id: string]: Product}} products
 * @property {string[]} lineup
 * @property {string | null} pinned
 * @property {{[productId: string]: Sale}} sales
 * @property {ChatEvent[]} chat  the last 50, oldest first
 * @property {LiveValues} live
 * @property {WireObject | null} [auction]
 * @property {WireObject | null} [giveaway]
 * @property {string[]} [banned_words]  host only
 * @property {string[]} [muted]  host only
 * @property {string[]} [banned]  host only
 *
 * @typedef {object} ResumeFrame  a resume: `events` follow on from the position, once each
 * @property {"resume"} t
 * @property {true} recovered
 * @property {string} epoch
 * @property {number} seq
 * @property {You} you
 * @property {RoomEvent[]} events
 * @property {LiveValues} live
 *
 * @typedef {object} BatchFrame  one tick of the room
 * @property {"batch"} t
 * @property {RoomEvent[]} events
 * @property {LiveValues} [live]
 * @property {number} [skipped]  chat events left out for this slow reader
 *
 * @typedef {object} ErrorObject
 * @property {string} code
 * @property {string} [message]
 * @property {number} [retry_after]  seconds
 *
 * @typedef {object} ReplyFrame
 * @property {"reply"} t
 * @property {number | string | null} id
 * @property {boolean} ok
 * @property {WireObject} [data]
 * @property {ErrorObject} [error]
 *
 * @typedef {SnapshotFrame | ResumeFrame | BatchFrame} RoomFrame  what a renderer applies
 */

/**
 * The minimal WebSocket this client needs: the WHATWG one of browsers, `ws` in Node, or a
 * mini-program shell's adapter with the same members.
 *
 * @typedef {object} WebSocketLike
 * @property {number} readyState  1: open
 * @property {string} [protocol]
 * @property {(data: string) => void} send
 * @property {(code?: number, reason?: string) => void} close
 * @property {((ev: any) => void) | null} onmessage  gets `{data: string}` for a text frame
 * @property {((ev: any) => void) | null} onclose  gets `{code: number, reason: string}`
 * @property {((ev: any) => void) | null} onerror
 *
 * @typedef {new (url: string, protocols: string | string[]) => WebSocketLike} WebSocketConstructor
 */

export {};
