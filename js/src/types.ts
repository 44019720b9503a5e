// Types of the Rampart client's public API and of the wire frames it reads.
// This module holds types only, so the compiled client stays one file.

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
  info?: { user?: string; client?: string };
}

/** Limits the server announced in its welcome push. */
export interface ServerLimits {
  max_message_bytes: number;
  messages_per_minute: number;
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

export interface PresenceResult {
  clients: { user: string; client: string }[];
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
  reason: string;
}

/** Every event the client emits, with its argument. */
export interface ClientEvents {
  state: { state: State; previous: State };
  connected: Welcome;
  disconnected: DisconnectEvent;
  error: Error;
  recovered: { channel: string; publications: number };
  recovery_failed: RecoveryFailedEvent;
  unsubscribed: ServerUnsubscribeEvent;
  token_refreshed: { expiresAt: number };
}
