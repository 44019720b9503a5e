// Types of the Rampart client's public API and of the wire frames it reads.
// This module holds types only, so the compiled client stays one file.
//
// The wire section below lists what crosses the wire as the Go package
// protocol/ lists it: error codes, refusal codes, close codes, push names
// and the frames' field names. protocol/js_test.go reads this file and
// fails when the two lists differ, so keep them in the forms used there: a
// union of string literals, or an interface of one `name: type;` per line.

/** A position in a channel's history. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** A message published to a channel. */
export interface Publication<T = unknown> {
  channel: string;
  offset: number;
  epoch: string;
  data: T;
  /** Who published it; none when the server itself did (the HTTP API). */
  info?: ClientInfo;
}

/** The server's welcome push, read once per connection. */
export interface Welcome {
  /** The server's id for this connection. */
  client: string;
  /** The user id (the token's sub). */
  user: string;
  /** When the current token expires, unix milliseconds (0: never). */
  expiresAt: number;
  limits: ServerLimits;
}

/** The connection state. */
export type State = 'disconnected' | 'connecting' | 'connected' | 'closed';

/** A minimal WebSocket constructor: the browser's, Node's or the `ws` package's. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string; wasClean?: boolean }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface BackoffOptions {
  /** First retry delay ceiling, milliseconds. Default 500. */
  baseMs?: number;
  /** Largest delay, milliseconds. Default 30000. */
  maxMs?: number;
  /** Smallest delay after close 1013 (overloaded) or 4029 (rate limit abuse), milliseconds. Default 5000. */
  overloadedMinMs?: number;
}

export interface ClientOptions {
  /**
   * Returns a fresh JWT. Called before the first connection, on
   * `refresh_required`, after close 4001, and after a connection attempt
   * that failed before the welcome push (a browser cannot see a 401).
   */
  getToken?: () => Promise<string>;
  /**
   * How the token reaches the server. `subprotocol` (default) offers
   * `rampart.bearer.<token>` next to `rampart.v1`. `cookie` sends no token:
   * the browser's session cookie authenticates, with `csrfToken` in the URL.
   * The token is never put in the URL.
   */
  tokenTransport?: 'subprotocol' | 'cookie';
  /** The CSRF value for cookie authentication (sent as the `csrf` query parameter). */
  csrfToken?: string;
  /** The WebSocket implementation. Default: globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** Reply timeout per request, milliseconds. Default 10000. */
  requestTimeoutMs?: number;
  /** Time allowed from opening the socket to the welcome push, milliseconds. Default 10000. */
  connectTimeoutMs?: number;
  /** Reconnection delays. */
  backoff?: BackoffOptions;
  /** Reconnect after a lost connection. Default true. */
  reconnect?: boolean;
}

export interface SubscribeOptions {
  /** Ask for the publications after this position (recovery). */
  since?: StreamPosition;
  /**
   * Told of the clients that subscribed to the channel, on a channel whose
   * rule says `join_leave: true`, when this client may read its presence.
   * Never names this connection itself. Several may come in one call.
   */
  onJoin?: (ev: JoinLeaveEvent) => void;
  /** Told of the clients that left the channel, as onJoin. */
  onLeave?: (ev: JoinLeaveEvent) => void;
  /**
   * Told when more clients joined or left at once than one push lists:
   * fetch presence() again for the whole picture.
   */
  onPresenceChanged?: (ev: { channel: string }) => void;
}

/**
 * Clients that joined or left a channel (a `join` or `leave` push). Join
 * and leave are not recovered after a reconnection: fetch presence()
 * again then.
 */
export interface JoinLeaveEvent {
  channel: string;
  clients: PresenceEntry[];
}

export interface PublishOptions {
  /**
   * The publish's idempotency key: 1 to 64 characters of A-Z a-z 0-9 _ . : @ -
   * (a UUID will do). Default: 128 random bits. The server stores a publish
   * once per key, user and channel within two minutes and answers a repeat
   * with the first one's offset.
   */
  idempotencyKey?: string;
}

export interface SubscribeResult {
  channel: string;
  offset: number;
  epoch: string;
  /** True when the publications after `since` were all delivered. */
  recovered: boolean;
}

export interface HistoryOptions {
  limit?: number;
  since?: StreamPosition;
}

export interface HistoryResult<T = unknown> {
  publications: Publication<T>[];
  offset: number;
  epoch: string;
}


/** Why the connection went down, and what the client does next. */
export interface DisconnectEvent {
  code: number;
  reason: string;
  /** False when the client stops (1000, 1008, 1002, 1003, 1007, 1009 or close()). */
  reconnect: boolean;
  /** Delay before the next attempt, milliseconds, when reconnecting. */
  delayMs?: number;
}

/**
 * Publications the client could not recover: those after `since`, up to and
 * including `offset` (in `epoch`), were not delivered, and delivery goes on
 * after `offset`.
 */
export interface RecoveryFailedEvent {
  channel: string;
  /** The last position delivered (or asked to recover from) before the loss. */
  since: StreamPosition;
  /** Where delivery goes on after: the channel's position for a subscribe that did not recover, the last publication skipped for a gap, the new epoch's position just before its publication for a reset. */
  offset: number;
  epoch: string;
}

export interface ServerUnsubscribeEvent {
  channel: string;
  /** The server's reason, an error code for a refused subscribe after a reconnection, or 'disconnected' for a server-side subscription whose connection ended. */
  reason: string;
}

/**
 * A subscription the server made for the connection on its own (a
 * `subscribe` push), handed to the `server_subscribed` listeners before any
 * of its publications. Its publications get the same delivery as those of
 * `subscribe()`. It ends with the server's `unsubscribe` push, with
 * `unsubscribe()`, or with its connection: it is not subscribed again after
 * a reconnection (the server may subscribe the new connection again, which
 * is a new ServerSubscription).
 */
export interface ServerSubscription<T = unknown> {
  readonly channel: string;
  /** The position of the last publication delivered (or loss reported), at first the push's. */
  readonly position: StreamPosition;
  /** False once it ended. */
  readonly active: boolean;
  /** Receives its publications, in offset order; set it in the `server_subscribed` listener. Without it they are dropped. */
  onPublication: ((pub: Publication<T>) => void) | null;
  /** Told once when the server or the connection ends it (not after `unsubscribe()`), with the reason `unsubscribed` gives. */
  onEnd: ((reason: string) => void) | null;
  /** Ends it with the ordinary unsubscribe command. */
  unsubscribe(): Promise<void>;
}

/** Every event the client emits, with its argument. */
export interface ClientEvents {
  state: { state: State; previous: State };
  connected: Welcome;
  disconnected: DisconnectEvent;
  error: Error;
  recovered: { channel: string; publications: number };
  recovery_failed: RecoveryFailedEvent;
  server_subscribed: ServerSubscription;
  unsubscribed: ServerUnsubscribeEvent;
  token_refreshed: { expiresAt: number };
  /** A join push, for any subscription (one made by the server too). */
  join: JoinLeaveEvent;
  /** A leave push, for any subscription. */
  leave: JoinLeaveEvent;
  /** A presence_changed push: fetch presence() of the channel again. */
  presence_changed: { channel: string };
}

// ---- The wire (docs/protocol.md; the Go package protocol/) ----

/** The error codes of an error reply, by the name ErrorCode gives them (protocol.Codes). */
export interface ServerErrorCodes {
  BadRequest: 'bad_request';
  Unauthorized: 'unauthorized';
  Forbidden: 'forbidden';
  NotFound: 'not_found';
  AlreadySubscribed: 'already_subscribed';
  LimitExceeded: 'limit_exceeded';
  RateLimited: 'rate_limited';
  Unavailable: 'unavailable';
  Internal: 'internal';
}
export type ServerErrorCode = ServerErrorCodes[keyof ServerErrorCodes];

/** The client's own error codes (RampartError.local is true), by the name ErrorCode gives them. */
export interface ClientErrorCodes {
  MessageTooBig: 'message_too_big';
  NotConnected: 'not_connected';
  Timeout: 'timeout';
  ConnectionLost: 'connection_lost';
  ConnectionClosed: 'connection_closed';
  Closed: 'closed';
  TokenUnavailable: 'token_unavailable';
  BadReply: 'bad_reply';
}

/**
 * The codes in the body of a refused handshake, `{"error": code,
 * "request_id": id}` (protocol.RefusalCodes). A browser's WebSocket cannot
 * read that body; a backend that checks a handshake with fetch can.
 */
export type RefusalCode =
  | 'bad_handshake'
  | 'unsupported_version'
  | 'unavailable'
  | 'rate_limited'
  | 'origin_refused'
  | 'subprotocol_required'
  | 'csrf_failed'
  | 'unauthorized'
  | 'not_found'
  | 'forbidden';

/**
 * The close codes the server sends, each with the reason text of its close
 * frame (protocol.CloseCodes). Besides these, the HTTP API's disconnect
 * sends 4000-4999 with the backend's reason.
 */
export interface CloseReasons {
  1000: 'normal';
  1001: 'going away';
  1002: 'protocol error';
  1003: 'binary frames not accepted';
  1007: 'invalid utf-8';
  1008: 'policy violation';
  1009: 'message too big';
  1011: 'internal error';
  1013: 'try again later';
  4001: 'token expired';
  4009: 'slow consumer';
  4029: 'rate limit abuse';
}
export type CloseCode = keyof CloseReasons;

/** The commands a client sends (protocol.Actions). */
export type Action =
  | 'subscribe'
  | 'unsubscribe'
  | 'publish'
  | 'history'
  | 'presence'
  | 'refresh'
  | 'rpc'
  | 'ping';

/** The pushes' names (protocol.Pushes). */
export type PushName =
  | 'welcome'
  | 'publication'
  | 'refresh_required'
  | 'subscribe'
  | 'unsubscribe'
  | 'join'
  | 'leave'
  | 'presence_changed';

/** Who published a publication. */
export interface ClientInfo {
  user: string;
  client?: string;
}

/** A publication in a subscribe or history result. */
export interface WirePublication {
  offset: number;
  data: unknown;
  info?: ClientInfo;
}

/** The result of subscribe. */
export interface WireSubscribeResult {
  offset: number;
  epoch: string;
  recovered: boolean;
  publications: WirePublication[];
}

/** The result of publish. */
export interface WirePublishResult {
  offset: number;
}

/** The result of history. */
export interface WireHistoryResult {
  publications: WirePublication[];
  offset: number;
  epoch: string;
}

/** One subscribed connection in a presence result. */
export interface PresenceEntry {
  user: string;
  client: string;
}

/** The result of presence, as presence() resolves with it. */
export interface PresenceResult {
  clients: PresenceEntry[];
}

/** The result of refresh: the new token's expiry, unix milliseconds (0: never). */
export interface WireRefreshResult {
  expires_at: number;
}

/** The result of rpc. */
export interface WireRPCResult {
  data: unknown;
}

/** The error object of an error reply. */
export interface WireError {
  code: ServerErrorCode;
  message: string;
  request_id: string;
  retry_after_ms?: number;
}

/** Limits the server announced in its welcome push. */
export interface ServerLimits {
  max_message_bytes: number;
  messages_per_minute: number;
  /** The server pings a connection it has not heard from for this long (0: not announced). */
  ping_interval_ms: number;
  /** ...and drops it when no pong comes within this long (0: not announced). */
  pong_timeout_ms: number;
}

/** The welcome push. */
export interface WireWelcome {
  push: 'welcome';
  client: string;
  user: string;
  expires_at: number;
  limits: ServerLimits;
}

/** The publication push. */
export interface WirePublicationPush {
  push: 'publication';
  channel: string;
  offset: number;
  epoch: string;
  data: unknown;
  info?: ClientInfo;
}

/** The refresh_required push. */
export interface WireRefreshRequiredPush {
  push: 'refresh_required';
  expires_at: number;
}

/** The subscribe push: the server subscribed the connection; publications after offset follow. */
export interface WireSubscribePush {
  push: 'subscribe';
  channel: string;
  offset: number;
  epoch: string;
}

/** The unsubscribe push: the server ended a subscription. */
export interface WireUnsubscribePush {
  push: 'unsubscribe';
  channel: string;
  reason: string;
}

/** The join push: clients subscribed to the channel (never this connection). */
export interface WireJoinPush {
  push: 'join';
  channel: string;
  clients: PresenceEntry[];
}

/** The leave push: clients left the channel. */
export interface WireLeavePush {
  push: 'leave';
  channel: string;
  clients: PresenceEntry[];
}

/** The presence_changed push: too many joined or left at once to list; fetch presence again. */
export interface WirePresenceChangedPush {
  push: 'presence_changed';
  channel: string;
}
