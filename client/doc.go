// Package client is a Go client for a Rampart server: it dials with a token,
// subscribes to channels, publishes, reads history and presence, calls RPC
// methods, renews its token when the server asks, and reconnects on its own,
// recovering every publication it missed.
//
// # Delivery
//
// A subscription's handler is called on one goroutine per Client, with
// offsets strictly increasing within an epoch and never twice the same
// offset: a publication at or under the last one handed on (a repeat from
// the server or its broker) is dropped. Every publication missed is either
// recovered and handed on in its place, or reported to the function set
// with OnRecoveryFailed (lost, now: everything after lost up to now was
// skipped) before delivery goes on after now. Without OnRecoveryFailed a
// loss is logged.
//
// A gap in the live publications (offset more than one past the last in
// the same epoch, as when a server node's broker link dropped deliveries)
// is filled from the channel's history: the client sends history with
// since set to the last position handed on, paging while the server caps
// its answers (max_history_limit), hands the missing publications on in
// order, then the live ones that arrived meanwhile. It holds at most 1024
// of those; the ones past that are reported lost after the held ones. What
// history no longer has, an answer from another epoch, or a failed history
// command is reported lost. The reading of the connection never waits for
// this: the filling runs on its own goroutine, and the subscription's
// publications wait for it. If the connection drops meanwhile, the
// subscribe after the reconnect recovers from the same position.
//
// A live publication of another epoch than the last handed on means the
// channel's history was reset: the loss is reported (lost is the last
// position of the old epoch, now the new epoch's position just before that
// publication) and delivery goes on in the new epoch.
//
// After a reconnect the client subscribes again (to the channels it
// subscribed to itself) with the position of the last publication it
// handed on; when the server cannot recover what was
// missed (history too short, or the channel's epoch changed), the loss is
// reported the same way. Handlers may call the Client, but a handler that
// blocks holds up every subscription: the incoming queue is bounded, and
// once it is full the client stops reading, so the server eventually
// closes the connection as a slow consumer (4009) and the client
// reconnects and recovers.
//
// # Server-side subscriptions
//
// The server may subscribe a connection to a channel on its own (its
// backend asked it to): a subscribe push gives the channel's position, and
// the channel's publications after it follow. The client hands such a
// Subscription to Config.OnServerSubscribe, on the handlers' goroutine and
// before any of its publications; the handler and options it returns get
// the same delivery as a subscription made with Subscribe (offset order,
// no repeats, gaps filled from history or reported lost). Subscribe to
// that channel returns ErrAlreadySubscribed; Unsubscribe ends it with the
// ordinary unsubscribe command. The server ends it with an unsubscribe
// push (OnUnsubscribed is told "server: " and its reason). It lasts as long
// as its connection: when the connection drops it ends (OnUnsubscribed is
// told ReasonDisconnected), and the client does not subscribe to it again
// after reconnecting; the server may subscribe the new connection again,
// which is a new Subscription.
//
// # Join and leave
//
// On a channel whose rule sets join_leave, OnJoin and OnLeave are told of
// the clients that subscribe and leave (several at once: the server
// batches them per channel, and never names this connection), and
// OnPresenceChanged when more changed at once than a push lists. They run
// on the handlers' goroutine, in order with the publications. Joins and
// leaves are not recovered: read Presence after subscribing, after
// OnPresenceChanged and after a reconnect, and apply joins and leaves to
// that set by client id.
//
// # Reconnecting
//
// When the connection drops (no close frame; nothing at all received, not
// even the server's pings, for the ping interval and pong timeout the
// welcome announced plus 5 s, see Welcome; or close codes 1001, 1011,
// 1012, 1013, 1014, 4001, 4009) the client reconnects with jittered
// exponential backoff between Config.MinBackoff and Config.MaxBackoff, asking
// Config.Token for a token before every attempt. After 4029 (rate limit
// abuse) it waits at least RateLimitBackoff. Any other close code (1000,
// 1002, 1003, 1007, 1008, 1009, or a code it does not know) stops it for
// good: Done is closed and Err says why. A refused handshake while
// reconnecting (a *HandshakeError: the HTTP status and the server's
// refusal code, such as unauthorized or origin_refused) is told to
// Config.OnRefused, then stops the client too, Err wrapping it, except:
// 429 and 5xx, which may heal by themselves (HandshakeError.Temporary),
// are retried, honouring Retry-After; and 401 is retried once with a new
// token from Config.Token, then stops the client if that one is refused as
// well (a token source that keeps giving tokens the server refuses would
// otherwise reconnect for ever, with nothing to show for it).
//
// Commands sent when the connection drops before their reply fail with an
// error matching ErrDisconnected: the client cannot know whether the server
// ran them, so it never sends them again, except a publish (see
// Publishing). Commands started while the client is reconnecting wait for
// the new connection, bounded by their context.
//
// # Publishing
//
// A publish answered unavailable, or whose connection dropped before the
// answer, may still have been stored: the outcome is not known. So every
// publish carries an idempotency key, random unless set with
// IdempotencyKey, and Publish sends it again with the same key, after a
// backoff and on the next connection, up to 3 attempts within the caller's
// context and within 1m45s of the first (the server remembers a key for
// two minutes). The server stores and delivers a publication once per
// key, user and channel, and answers a repeat with the first one's offset,
// which Publish returns. Two Publish calls without IdempotencyKey are two
// publications, even with the same data.
//
// The package decides how a Go program talks to a Rampart server. It does
// not decide what a token contains or how it is obtained (Config.Token does),
// nor what the server allows.
package client
