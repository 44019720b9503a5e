// @rampart/client: the JavaScript client of the Rampart real-time server.
// One file with no runtime imports, so the compiled module can be served as is.
/** The subprotocol the client speaks. */
export const SUBPROTOCOL = 'rampart.v1';
/** The prefix of the second offered subprotocol, which carries the token. */
export const BEARER_PREFIX = 'rampart.bearer.';
/**
 * Error codes. The first group comes from the server (ServerErrorCodes);
 * the second is the client's own (ClientErrorCodes, `local: true` on the
 * error).
 */
export const ErrorCode = {
    BadRequest: 'bad_request',
    Unauthorized: 'unauthorized',
    Forbidden: 'forbidden',
    NotFound: 'not_found',
    AlreadySubscribed: 'already_subscribed',
    LimitExceeded: 'limit_exceeded',
    RateLimited: 'rate_limited',
    Unavailable: 'unavailable',
    Internal: 'internal',
    // Raised by the client itself.
    MessageTooBig: 'message_too_big',
    NotConnected: 'not_connected',
    Timeout: 'timeout',
    ConnectionLost: 'connection_lost',
    ConnectionClosed: 'connection_closed',
    Closed: 'closed',
    TokenUnavailable: 'token_unavailable',
    BadReply: 'bad_reply',
};
/** An error from the server (a reply's error object) or from the client. */
export class RampartError extends Error {
    /** A code from ErrorCode. */
    code;
    /** The server's request id: quote it when reporting a problem. */
    requestId;
    /** For rate_limited: how long to wait before trying again, milliseconds. */
    retryAfterMs;
    /** For connection_closed: the WebSocket close code. */
    closeCode;
    /** True when the client raised the error without asking the server. */
    local;
    constructor(code, message, extra = {}) {
        super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
        this.name = 'RampartError';
        this.code = code;
        this.requestId = extra.requestId;
        this.retryAfterMs = extra.retryAfterMs;
        this.closeCode = extra.closeCode;
        this.local = extra.local ?? false;
    }
}
// Close codes after which reconnecting would repeat a client bug or defy a
// policy verdict: stop and report.
const FATAL_CLOSE = new Set([1002, 1003, 1007, 1008, 1009]);
// Close codes that ask for a longer pause before the next attempt.
const OVERLOADED_CLOSE = new Set([1013, 4029]);
const TOKEN_EXPIRED_CLOSE = 4001;
// The reason a server-side subscription ends with when its connection does.
const DISCONNECTED = 'disconnected';
const CHANNEL_RE = /^[A-Za-z0-9_.:@-]{1,128}$/;
const DEFAULT_MAX_MESSAGE_BYTES = 16384;
const STABLE_AFTER_MS = 5000; // a connection this old resets the backoff
// Live publications a subscription holds while it fills a gap from history;
// those arriving past it are reported lost once the held ones are delivered.
const HELD_LIMIT = 1024;
// How many times filling a gap sends history again after rate_limited.
const RATE_LIMIT_RETRIES = 3;
const IDEMPOTENCY_KEY_RE = /^[A-Za-z0-9_.:@-]{1,64}$/;
// How many times publish() sends one publication: the first time and the
// retries after an answer that leaves the outcome unknown.
const PUBLISH_ATTEMPTS = 3;
// How long after the first attempt a retry may still be sent. The server
// remembers a key for two minutes from when it stored the publication; the
// margin covers the network and a busy broker. A later retry could be
// stored a second time.
const RETRY_WITHIN_MS = 105000;
const encoder = new TextEncoder();
// ServerSub is the application's handle on a subscription the server made.
class ServerSub {
    onPublication = null;
    onEnd = null;
    active = true;
    sub;
    end;
    constructor(sub, end) {
        this.sub = sub;
        this.end = end;
    }
    get channel() { return this.sub.channel; }
    get position() { return { ...this.sub.position }; }
    unsubscribe() { return this.end(); }
}
/**
 * A Rampart connection that reconnects, renews its token and recovers
 * missed publications on its own.
 */
export class RampartClient {
    url;
    opts;
    WS;
    listeners = new Map();
    subs = new Map();
    pending = new Map();
    waiters = new Set();
    _state = 'disconnected';
    ws = null;
    welcomeInfo = null;
    token = null;
    needFreshToken = true;
    started = false;
    refreshing = false;
    seq = 0;
    attempts = 0;
    retryTimer;
    connectTimer;
    stableTimer;
    constructor(url, options = {}) {
        this.url = url;
        this.opts = {
            requestTimeoutMs: 10000, connectTimeoutMs: 10000, reconnect: true, tokenTransport: 'subprotocol',
            ...options,
            backoff: { ...options.backoff },
        };
        const WS = options.WebSocket ?? globalThis.WebSocket;
        if (typeof WS !== 'function') {
            throw new TypeError('rampart: no WebSocket implementation; pass options.WebSocket');
        }
        if (this.opts.tokenTransport === 'subprotocol' && typeof options.getToken !== 'function') {
            throw new TypeError('rampart: options.getToken is required');
        }
        this.WS = WS;
    }
    /** The connection state. */
    get state() { return this._state; }
    /** The current connection's welcome push, or null while not connected. */
    get welcome() { return this.welcomeInfo; }
    /** Listens to an event; returns a function that stops listening. */
    on(event, fn) {
        let set = this.listeners.get(event);
        if (!set)
            this.listeners.set(event, (set = new Set()));
        set.add(fn);
        return () => this.off(event, fn);
    }
    off(event, fn) {
        this.listeners.get(event)?.delete(fn);
    }
    /**
     * Opens the connection; resolves with the welcome push, or rejects when the
     * client stops before it is connected.
     */
    connect() {
        if (this._state === 'connected' && this.welcomeInfo)
            return Promise.resolve(this.welcomeInfo);
        const done = new Promise((resolve, reject) => {
            const offState = this.on('state', ({ state }) => {
                if (state === 'connected') {
                    offState();
                    resolve(this.welcomeInfo);
                }
                if (state === 'closed') {
                    offState();
                    reject(this.lastCloseError ?? closedError());
                }
            });
        });
        if (!this.started) {
            this.started = true;
            this.lastCloseError = null;
            void this.open();
        }
        return done;
    }
    lastCloseError = null;
    /** Closes the connection with 1000 and stops reconnecting. */
    close() {
        if (!this.started)
            return;
        this.stop(null);
        this.emit('disconnected', { code: 1000, reason: 'client closed', reconnect: false });
    }
    /**
     * Subscribes to a channel. Publications reach onPublication in offset
     * order, each once, across reconnections. Resolves when the server
     * confirmed the subscription (after delivering recovered publications).
     */
    subscribe(channel, onPublication, options = {}) {
        if (!CHANNEL_RE.test(channel)) {
            return Promise.reject(localError(ErrorCode.BadRequest, 'invalid channel name'));
        }
        if (this.subs.has(channel)) {
            return Promise.reject(localError(ErrorCode.AlreadySubscribed, `already subscribed to ${channel}`));
        }
        if (!this.started || this._state === 'closed') {
            return Promise.reject(localError(ErrorCode.NotConnected, 'not connected: call connect() first'));
        }
        return new Promise((resolve, reject) => {
            const sub = {
                channel, handler: onPublication,
                position: options.since ? { ...options.since } : null,
                live: false, buffer: [], filling: null, waiter: { resolve, reject }, server: null,
                presence: { onJoin: options.onJoin, onLeave: options.onLeave, onPresenceChanged: options.onPresenceChanged },
            };
            this.subs.set(channel, sub);
            if (this._state === 'connected')
                this.sendSubscribe(sub);
        });
    }
    /**
     * Stops a subscription, one made by subscribe() or by the server.
     * Publications already queued for it are dropped.
     */
    async unsubscribe(channel) {
        const sub = this.subs.get(channel);
        if (!sub)
            return;
        this.subs.delete(channel);
        if (sub.server)
            sub.server.active = false;
        sub.waiter?.reject(localError(ErrorCode.Closed, `unsubscribed from ${channel}`));
        sub.waiter = null;
        if (this._state !== 'connected')
            return;
        try {
            await this.send('unsubscribe', { channel });
        }
        catch (err) {
            if (!(err instanceof RampartError) || err.local || err.code !== ErrorCode.NotFound)
                throw err;
        }
    }
    /**
     * Publishes data to a channel; resolves with the publication's offset.
     * Every publish carries an idempotency key (random unless
     * options.idempotencyKey gives one). When the outcome is not known (the
     * server answered unavailable, or the connection was lost before the
     * answer) the same publish is sent again with the same key, after a
     * backoff and on the next connection, up to 3 attempts: the server stores
     * it once and answers every attempt with its offset. When every attempt
     * leaves the outcome unknown, rejects with the last one's error
     * (`unavailable` or `connection_lost`): the publication may be stored.
     */
    async publish(channel, data, options = {}) {
        if (data === undefined)
            throw localError(ErrorCode.BadRequest, 'data must not be undefined');
        const key = options.idempotencyKey ?? newIdempotencyKey();
        if (typeof key !== 'string' || !IDEMPOTENCY_KEY_RE.test(key)) {
            throw localError(ErrorCode.BadRequest, 'the idempotency key must be 1 to 64 characters of A-Z a-z 0-9 _ . : @ -');
        }
        const fields = { channel, data, idempotency_key: key };
        // first: when the first attempt was sent; last: the error of the last
        // attempt, which left the outcome unknown.
        let first = 0, last = null;
        for (let attempt = 0;; attempt++) {
            const deadline = Date.now() + this.opts.requestTimeoutMs;
            try {
                await this.ready();
            }
            catch (err) {
                throw last ?? err; // not sent again: the last outcome is still the one to report
            }
            if (attempt === 0)
                first = Date.now();
            else if (Date.now() - first > RETRY_WITHIN_MS)
                throw last;
            try {
                const r = await this.send('publish', fields, deadline);
                return r;
            }
            catch (err) {
                if (!outcomeUnknown(err) || attempt + 1 >= PUBLISH_ATTEMPTS)
                    throw err;
                last = err;
            }
            await new Promise((ok) => setTimeout(ok, this.backoffMs(attempt)));
        }
    }
    /** Reads a channel's history. */
    async history(channel, options = {}) {
        const r = await this.request('history', { channel, limit: options.limit, since: options.since });
        const epoch = String(r.epoch ?? '');
        const pubs = Array.isArray(r.publications) ? r.publications : [];
        return { publications: pubs.map((p) => toPublication(channel, p, epoch)), offset: Number(r.offset ?? 0), epoch };
    }
    /** Lists who is subscribed to a channel. */
    presence(channel) {
        return this.request('presence', { channel });
    }
    /** Calls a backend method through the server; resolves with its data. */
    async rpc(method, data) {
        const r = await this.request('rpc', { method, data });
        return r.data;
    }
    /** Round trip to the server. */
    async ping() {
        await this.request('ping', {});
    }
    // ---- connection lifecycle ----
    setState(state) {
        const previous = this._state;
        if (previous === state)
            return;
        this._state = state;
        this.emit('state', { state, previous });
    }
    async open() {
        this.retryTimer = undefined;
        this.setState('connecting');
        let protocols = [SUBPROTOCOL];
        let url = this.url;
        if (this.opts.tokenTransport === 'subprotocol') {
            let token;
            try {
                token = await this.currentToken();
            }
            catch (err) {
                if (this._state !== 'connecting')
                    return; // closed meanwhile
                this.emit('error', localError(ErrorCode.TokenUnavailable, 'getToken failed', err));
                this.scheduleReconnect({ code: 1006, reason: 'token unavailable', reconnect: true });
                return;
            }
            if (this._state !== 'connecting')
                return;
            protocols = [SUBPROTOCOL, BEARER_PREFIX + token];
        }
        else if (this.opts.csrfToken) {
            const u = new URL(url);
            u.searchParams.set('csrf', this.opts.csrfToken);
            url = u.toString();
        }
        let ws;
        try {
            ws = new this.WS(url, protocols);
        }
        catch (err) {
            this.stop(localError(ErrorCode.ConnectionClosed, 'cannot open a WebSocket to ' + this.url, err));
            return;
        }
        this.ws = ws;
        this.connectTimer = setTimeout(() => this.lost(ws, 1006, 'no welcome in time'), this.opts.connectTimeoutMs);
        ws.onopen = () => {
            opened = true;
            if (ws.protocol !== SUBPROTOCOL) {
                ws.close(1002, 'unexpected subprotocol');
                this.lost(ws, 1002, `server selected subprotocol "${ws.protocol}"`);
            }
        };
        ws.onmessage = (ev) => { if (this.ws === ws)
            this.onFrame(ev.data); };
        let opened = false;
        ws.onerror = () => {
            // After open, the close event follows and carries the code. Before
            // open, some implementations (Node 20's) report a refused handshake
            // with an error event alone.
            if (!opened)
                this.lost(ws, 1006, 'handshake failed');
        };
        ws.onclose = (ev) => this.lost(ws, ev.code, ev.reason);
    }
    async currentToken() {
        if (this.token && !this.needFreshToken)
            return this.token;
        const token = await this.opts.getToken();
        if (typeof token !== 'string' || token === '')
            throw new TypeError('getToken returned no token');
        this.token = token;
        this.needFreshToken = false;
        return token;
    }
    onWelcome(msg) {
        clearTimeout(this.connectTimer);
        this.welcomeInfo = {
            client: String(msg.client ?? ''),
            user: String(msg.user ?? ''),
            expiresAt: Number(msg.expires_at ?? 0),
            limits: {
                max_message_bytes: Number(msg.limits?.max_message_bytes) || DEFAULT_MAX_MESSAGE_BYTES,
                messages_per_minute: Number(msg.limits?.messages_per_minute) || 0,
                ping_interval_ms: Number(msg.limits?.ping_interval_ms) || 0,
                pong_timeout_ms: Number(msg.limits?.pong_timeout_ms) || 0,
            },
        };
        this.stableTimer = setTimeout(() => { this.attempts = 0; }, STABLE_AFTER_MS);
        this.setState('connected');
        this.emit('connected', this.welcomeInfo);
        for (const w of this.waiters) {
            clearTimeout(w.timer);
            w.resolve();
        }
        this.waiters.clear();
        for (const sub of this.subs.values())
            this.sendSubscribe(sub);
    }
    // lost handles the end of a socket, whoever noticed it first.
    lost(ws, code, reason) {
        if (this.ws !== ws)
            return;
        this.detach();
        const welcomed = this._state === 'connected';
        this.welcomeInfo = null;
        this.failPending(localError(ErrorCode.ConnectionLost, `connection lost (close ${code})`, undefined, code));
        if (!welcomed)
            this.needFreshToken = true; // a browser cannot tell a 401 from a network error
        if (code === TOKEN_EXPIRED_CLOSE)
            this.needFreshToken = true;
        if (code === 1000 || FATAL_CLOSE.has(code) || !this.opts.reconnect) {
            const err = code === 1000 ? null : new RampartError(ErrorCode.ConnectionClosed, `the server closed the connection with ${code}${reason ? ' (' + reason + ')' : ''}`, { closeCode: code, local: true });
            this.stop(err);
            this.emit('disconnected', { code, reason, reconnect: false });
            return;
        }
        this.scheduleReconnect({ code, reason, reconnect: true });
    }
    // backoffMs is the n-th delay: between half and all of
    // min(maxMs, baseMs * 2^n).
    backoffMs(n) {
        const b = this.opts.backoff ?? {};
        const base = b.baseMs ?? 500, cap = b.maxMs ?? 30000;
        const ceiling = Math.min(cap, base * 2 ** Math.min(n, 30));
        return ceiling / 2 + Math.random() * ceiling / 2;
    }
    scheduleReconnect(ev) {
        let delay = this.backoffMs(this.attempts);
        if (OVERLOADED_CLOSE.has(ev.code))
            delay = Math.max(delay, this.opts.backoff?.overloadedMinMs ?? 5000);
        this.attempts++;
        this.setState('disconnected');
        this.emit('disconnected', { ...ev, delayMs: Math.round(delay) });
        this.retryTimer = setTimeout(() => void this.open(), delay);
    }
    // detach lets go of the socket. The subscriptions the server made end
    // with it; the others wait for the next one.
    detach() {
        const ws = this.ws;
        this.ws = null;
        clearTimeout(this.connectTimer);
        clearTimeout(this.stableTimer);
        const ended = [];
        for (const sub of this.subs.values()) {
            if (sub.server)
                ended.push(sub);
            sub.live = false;
            sub.buffer = [];
            sub.filling = null;
        }
        if (ws) {
            ws.onopen = ws.onmessage = ws.onclose = null;
            ws.onerror = () => { };
            if (ws.readyState === 0 || ws.readyState === 1) {
                try {
                    ws.close(1000);
                }
                catch { /* already closing */ }
            }
        }
        for (const sub of ended)
            this.endServerSub(sub, DISCONNECTED);
    }
    // stop ends the client: no more reconnecting. err, when set, is reported.
    stop(err) {
        clearTimeout(this.retryTimer);
        this.detach();
        this.started = false;
        this.welcomeInfo = null;
        this.lastCloseError = err;
        const reason = err ?? closedError();
        this.failPending(reason);
        for (const w of this.waiters) {
            clearTimeout(w.timer);
            w.reject(reason);
        }
        this.waiters.clear();
        for (const [channel, sub] of this.subs) {
            if (sub.waiter) {
                this.subs.delete(channel);
                sub.waiter.reject(reason);
            }
        }
        this.setState('closed');
        if (err)
            this.emit('error', err);
    }
    // ---- frames ----
    onFrame(raw) {
        let msg;
        try {
            msg = JSON.parse(String(raw));
        }
        catch (err) {
            this.emit('error', localError(ErrorCode.BadReply, 'the server sent a frame that is not JSON', err));
            return;
        }
        if (msg === null || typeof msg !== 'object')
            return;
        if (typeof msg.id === 'number') {
            this.onReply(msg);
            return;
        }
        if (typeof msg.push === 'string' && Object.hasOwn(this.pushes, msg.push))
            this.pushes[msg.push](msg);
    }
    // pushes handles each push; a push this client does not know is ignored.
    pushes = {
        welcome: (msg) => { if (this._state === 'connecting')
            this.onWelcome(msg); },
        publication: (msg) => this.onPublication(msg),
        refresh_required: () => void this.refreshToken(),
        subscribe: (msg) => this.onServerSubscribe(msg),
        unsubscribe: (msg) => this.onUnsubscribePush(msg),
        join: (msg) => this.onJoinLeave('join', msg),
        leave: (msg) => this.onJoinLeave('leave', msg),
        presence_changed: (msg) => this.onPresenceChanged(msg),
    };
    // onJoinLeave hands a join or leave push of a subscribed channel to the
    // subscription's callback, then to the client's listeners; one for a
    // channel not subscribed (any more) is dropped.
    onJoinLeave(kind, msg) {
        const channel = String(msg.channel ?? '');
        const sub = this.subs.get(channel);
        if (!sub)
            return;
        const clients = Array.isArray(msg.clients) ? msg.clients : [];
        const ev = {
            channel, clients: clients.map((e) => ({ user: String(e?.user ?? ''), client: String(e?.client ?? '') })),
        };
        this.callBack(kind === 'join' ? sub.presence.onJoin : sub.presence.onLeave, ev);
        this.emit(kind, ev);
    }
    onPresenceChanged(msg) {
        const channel = String(msg.channel ?? '');
        const sub = this.subs.get(channel);
        if (!sub)
            return;
        this.callBack(sub.presence.onPresenceChanged, { channel });
        this.emit('presence_changed', { channel });
    }
    // callBack calls an application callback; what it throws becomes an
    // error event.
    callBack(fn, ev) {
        try {
            fn?.(ev);
        }
        catch (err) {
            this.emit('error', err instanceof Error ? err : new Error(String(err)));
        }
    }
    // onServerSubscribe takes a subscription the server made: live from the
    // push's position, handed to the server_subscribed listeners before any
    // of its publications. A push for a channel already subscribed is ignored.
    onServerSubscribe(msg) {
        const channel = String(msg.channel ?? '');
        if (this.subs.has(channel))
            return;
        const sub = {
            channel, handler: () => { }, position: { offset: Number(msg.offset ?? 0), epoch: String(msg.epoch ?? '') },
            live: true, buffer: [], filling: null, waiter: null, server: null, presence: {},
        };
        const handle = new ServerSub(sub, () => this.subs.get(channel) === sub ? this.unsubscribe(channel) : Promise.resolve());
        sub.server = handle;
        sub.handler = (pub) => handle.onPublication?.(pub);
        this.subs.set(channel, sub);
        this.emit('server_subscribed', handle);
    }
    onUnsubscribePush(msg) {
        const channel = String(msg.channel ?? ''), reason = String(msg.reason ?? '');
        const sub = this.subs.get(channel);
        if (!sub)
            return;
        if (sub.server) {
            this.endServerSub(sub, reason);
            return;
        }
        this.subs.delete(channel);
        this.emit('unsubscribed', { channel, reason });
    }
    // endServerSub ends a subscription the server made: its onEnd, then the
    // unsubscribed event.
    endServerSub(sub, reason) {
        if (this.subs.get(sub.channel) === sub)
            this.subs.delete(sub.channel);
        const handle = sub.server;
        if (!handle.active)
            return;
        handle.active = false;
        try {
            handle.onEnd?.(reason);
        }
        catch (err) {
            this.emit('error', err instanceof Error ? err : new Error(String(err)));
        }
        this.emit('unsubscribed', { channel: sub.channel, reason });
    }
    onReply(msg) {
        const p = this.pending.get(msg.id);
        if (!p)
            return;
        this.pending.delete(msg.id);
        clearTimeout(p.timer);
        if (msg.error) {
            const e = msg.error;
            p.reject(new RampartError(String(e.code ?? ErrorCode.Internal), String(e.message ?? e.code ?? 'error'), {
                requestId: e.request_id, retryAfterMs: typeof e.retry_after_ms === 'number' ? e.retry_after_ms : undefined,
            }));
        }
        else {
            p.resolve(msg.result ?? {});
        }
    }
    onPublication(msg) {
        const sub = this.subs.get(msg.channel);
        if (!sub)
            return;
        const pub = toPublication(msg.channel, msg);
        if (sub.live)
            this.take(sub, pub);
        else
            sub.buffer.push(pub);
    }
    // take hands a live publication on, holds it while a gap is filled, or
    // starts filling the gap before it. The socket's reading never waits.
    take(sub, pub) {
        const f = sub.filling;
        if (f) {
            if (f.held.length < HELD_LIMIT)
                f.held.push(pub);
            else
                f.dropped = { offset: pub.offset, epoch: pub.epoch };
            return;
        }
        if (gapBefore(sub.position, pub)) {
            const fill = { held: [pub], dropped: null };
            sub.filling = fill;
            void this.fillGaps(sub, fill);
            return;
        }
        this.deliver(sub, pub);
    }
    // deliver hands a publication to its handler unless it was delivered
    // before; one of another epoch reports the reset first.
    deliver(sub, pub) {
        const at = sub.position;
        if (at && at.epoch === pub.epoch && pub.offset <= at.offset)
            return;
        if (at && at.epoch !== pub.epoch)
            this.lose(sub, { offset: Math.max(pub.offset, 1) - 1, epoch: pub.epoch });
        sub.position = { offset: pub.offset, epoch: pub.epoch };
        try {
            sub.handler(pub);
        }
        catch (err) {
            this.emit('error', err instanceof Error ? err : new Error(String(err)));
        }
    }
    // lose moves the subscription to now, skipping what lies between, and
    // reports it.
    lose(sub, now) {
        const since = sub.position;
        sub.position = { ...now };
        this.emit('recovery_failed', { channel: sub.channel, since, offset: now.offset, epoch: now.epoch });
    }
    // fillGaps runs while sub.filling is f: for each held publication after a
    // gap it reads the missing ones from history, delivers them, then the held
    // ones, and ends when nothing is held. It stops without a word when the
    // socket is lost (the subscribe on the next one recovers from the same
    // position) or the subscription ends.
    async fillGaps(sub, f) {
        const ws = this.ws;
        const mine = () => sub.filling === f && this.subs.get(sub.channel) === sub && this.ws === ws;
        while (mine()) {
            const pub = f.held[0];
            if (!pub) {
                sub.filling = null;
                const d = f.dropped, at = sub.position;
                if (d && (d.epoch !== at.epoch || d.offset > at.offset))
                    this.lose(sub, d);
                return;
            }
            if (gapBefore(sub.position, pub)) {
                await this.fetchGap(sub, pub.offset - 1, mine);
                continue;
            }
            f.held.shift();
            this.deliver(sub, pub);
        }
    }
    // fetchGap delivers the publications after the position up to offset to
    // from history, page by page (the server caps each answer at its
    // max_history_limit), and reports what history cannot give: no longer
    // kept, another epoch, or a failed command.
    async fetchGap(sub, to, mine) {
        let recovered = 0;
        for (let tries = 0;;) {
            const start = sub.position;
            let r = null, failed = null;
            try {
                r = await this.send('history', { channel: sub.channel, since: start, limit: to - start.offset });
            }
            catch (err) {
                failed = err;
            }
            if (!mine())
                return;
            if (failed instanceof RampartError && failed.code === ErrorCode.RateLimited && tries++ < RATE_LIMIT_RETRIES) {
                await new Promise((ok) => setTimeout(ok, failed.retryAfterMs ?? 0));
                if (!mine())
                    return;
                continue;
            }
            if (failed)
                this.emit('error', failed instanceof Error ? failed : new Error(String(failed)));
            const pubs = r && String(r.epoch ?? '') === start.epoch && Array.isArray(r.publications) ? r.publications : [];
            for (const p of pubs) {
                const pub = toPublication(sub.channel, p, start.epoch);
                const at = sub.position;
                if (pub.offset > to)
                    break;
                if (pub.offset <= at.offset)
                    continue;
                if (pub.offset > at.offset + 1)
                    this.lose(sub, { offset: pub.offset - 1, epoch: start.epoch });
                this.deliver(sub, pub);
                recovered++;
                if (!mine())
                    return; // a handler unsubscribed or closed
            }
            const at = sub.position;
            if (at.offset === start.offset && at.epoch === start.epoch)
                this.lose(sub, { offset: to, epoch: start.epoch });
            if (sub.position.offset >= to)
                break;
        }
        if (recovered > 0)
            this.emit('recovered', { channel: sub.channel, publications: recovered });
    }
    sendSubscribe(sub) {
        const since = sub.position;
        const ws = this.ws;
        this.send('subscribe', since ? { channel: sub.channel, since } : { channel: sub.channel }).then((r) => { if (this.subs.get(sub.channel) === sub && this.ws === ws)
            this.onSubscribed(sub, since, r); }, (err) => {
            if (this.subs.get(sub.channel) !== sub)
                return;
            // Lost or closed: resubscribed on the next connection, or rejected by stop().
            if (err.local && err.code !== ErrorCode.Timeout)
                return;
            this.subs.delete(sub.channel);
            if (sub.waiter) {
                sub.waiter.reject(err);
                return;
            }
            this.emit('error', err);
            this.emit('unsubscribed', { channel: sub.channel, reason: err.code });
        });
    }
    onSubscribed(sub, since, r) {
        const top = { offset: Number(r.offset ?? 0), epoch: String(r.epoch ?? '') };
        const pubs = Array.isArray(r.publications) ? r.publications : [];
        const recovered = Boolean(since && r.recovered && since.epoch === top.epoch);
        if (since && !recovered) {
            this.emit('recovery_failed', { channel: sub.channel, since, offset: top.offset, epoch: top.epoch });
        }
        if (recovered) {
            for (const p of pubs)
                this.deliver(sub, toPublication(sub.channel, p, top.epoch));
            if (sub.position && sub.position.offset < top.offset)
                sub.position = top;
            if (pubs.length)
                this.emit('recovered', { channel: sub.channel, publications: pubs.length });
        }
        else {
            sub.position = top;
        }
        sub.live = true;
        sub.filling = null;
        const buffered = sub.buffer;
        sub.buffer = [];
        for (const p of buffered)
            this.take(sub, p);
        const w = sub.waiter;
        sub.waiter = null;
        w?.resolve({ channel: sub.channel, offset: sub.position.offset, epoch: sub.position.epoch, recovered });
    }
    async refreshToken() {
        if (this.refreshing || !this.opts.getToken)
            return;
        this.refreshing = true;
        try {
            this.needFreshToken = true;
            const token = await this.currentToken();
            if (this._state !== 'connected')
                return; // the next connection uses it
            const r = await this.send('refresh', { token });
            const expiresAt = Number(r.expires_at ?? 0);
            if (this.welcomeInfo)
                this.welcomeInfo.expiresAt = expiresAt;
            this.emit('token_refreshed', { expiresAt });
        }
        catch (err) {
            this.emit('error', err instanceof Error ? err : new Error(String(err)));
        }
        finally {
            this.refreshing = false;
        }
    }
    // ---- requests ----
    // request waits for a connection (up to the request timeout), then sends.
    async request(action, fields) {
        const deadline = Date.now() + this.opts.requestTimeoutMs;
        await this.ready();
        return this.send(action, fields, deadline);
    }
    ready() {
        if (this._state === 'connected')
            return Promise.resolve();
        if (!this.started)
            return Promise.reject(localError(ErrorCode.NotConnected, 'not connected: call connect() first'));
        return new Promise((resolve, reject) => {
            const w = {
                resolve, reject,
                timer: setTimeout(() => {
                    this.waiters.delete(w);
                    reject(localError(ErrorCode.Timeout, 'not connected in time'));
                }, this.opts.requestTimeoutMs),
            };
            this.waiters.add(w);
        });
    }
    // send writes one command on the current socket and waits for its reply.
    send(action, fields, deadline = Date.now() + this.opts.requestTimeoutMs) {
        const ws = this.ws;
        if (!ws || this._state !== 'connected') {
            return Promise.reject(localError(ErrorCode.NotConnected, 'not connected'));
        }
        const id = ++this.seq;
        const frame = JSON.stringify({ id, action, ...fields });
        const size = encoder.encode(frame).length;
        const max = this.welcomeInfo?.limits.max_message_bytes ?? DEFAULT_MAX_MESSAGE_BYTES;
        if (size > max) {
            return Promise.reject(localError(ErrorCode.MessageTooBig, `${action} of ${size} bytes exceeds the server's limit of ${max} bytes; not sent`));
        }
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                this.pending.delete(id);
                reject(localError(ErrorCode.Timeout, `no reply to ${action} in time`));
            }, Math.max(0, deadline - Date.now()));
            this.pending.set(id, { resolve, reject, timer });
            ws.send(frame);
        });
    }
    failPending(err) {
        for (const p of this.pending.values()) {
            clearTimeout(p.timer);
            p.reject(err);
        }
        this.pending.clear();
    }
    emit(event, arg) {
        const set = this.listeners.get(event);
        if (!set || set.size === 0)
            return;
        for (const fn of [...set]) {
            try {
                fn(arg);
            }
            catch (err) {
                if (event !== 'error')
                    this.emit('error', err instanceof Error ? err : new Error(String(err)));
            }
        }
    }
}
// toPublication reads a publication push or an entry of a history or
// subscribe result (which leaves out the channel and the epoch).
function toPublication(channel, p, epoch = '') {
    const push = p;
    return { channel: String(push.channel ?? channel), offset: Number(p.offset), epoch: String(push.epoch ?? epoch), data: p.data, info: p.info };
}
// gapBefore reports whether publications of pub's epoch are missing between
// the position and pub.
function gapBefore(at, pub) {
    return at !== null && at.epoch === pub.epoch && pub.offset > at.offset + 1;
}
// outcomeUnknown reports whether err leaves it unknown whether a publish was
// stored, so that sending it again with its key is the way to know: the
// server answered unavailable, or the connection was lost before the answer.
function outcomeUnknown(err) {
    if (!(err instanceof RampartError))
        return false;
    return (err.code === ErrorCode.Unavailable && !err.local) || err.code === ErrorCode.ConnectionLost;
}
// newIdempotencyKey returns 128 random bits in hex. getRandomValues, unlike
// randomUUID, also works on pages that are not a secure context.
function newIdempotencyKey() {
    const b = globalThis.crypto.getRandomValues(new Uint8Array(16));
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
function localError(code, message, cause, closeCode) {
    return new RampartError(code, 'rampart: ' + message, { local: true, cause, closeCode });
}
function closedError() {
    return localError(ErrorCode.Closed, 'the client is closed');
}
