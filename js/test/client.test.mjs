// Tests of the client against a real Rampart server (`rampart serve --dev`).
// Run with: npm test (Node 20 needs --experimental-websocket, set by the script).

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RampartClient, RampartError, ErrorCode } from '../dist/index.js';
import { startServer, startRedis, waitFor } from './helpers/server.mjs';

const fast = { baseMs: 100, maxMs: 1000 };

// client returns a connected-ready client for user; extra options merged in.
function client(srv, user, extra = {}) {
  const c = new RampartClient(srv.wsURL, { getToken: () => srv.token(user), backoff: fast, ...extra });
  c.errors = [];
  c.on('error', (e) => c.errors.push(e));
  return c;
}

function collector() {
  const got = [];
  const fn = (p) => got.push(p);
  fn.got = got;
  return fn;
}

const uniq = (p) => `chat:${p}-${Math.random().toString(36).slice(2, 8)}`;

describe('with a dev server', () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(async () => { await srv?.stop(); });

  test('connects with the subprotocol token and reads the welcome push', async () => {
    let protocols;
    class Spy extends WebSocket {
      constructor(url, p) { super(url, p); protocols = p; }
    }
    const c = client(srv, 'alice', { WebSocket: Spy });
    const states = [];
    c.on('state', ({ state }) => states.push(state));
    const w = await c.connect();
    try {
      assert.equal(w.user, 'alice');
      assert.ok(w.client.length > 0);
      assert.ok(w.expiresAt > Date.now());
      assert.ok(w.limits.max_message_bytes > 0);
      // the dev server's defaults, announced for clients that watch for silence
      assert.equal(w.limits.ping_interval_ms, 25000);
      assert.equal(w.limits.pong_timeout_ms, 10000);
      assert.equal(protocols[0], 'rampart.v1');
      assert.match(protocols[1], /^rampart\.bearer\./);
      assert.doesNotMatch(c.url, /token/);
      assert.deepEqual(states, ['connecting', 'connected']);
      await c.ping();
    } finally {
      c.close();
    }
    assert.equal(c.state, 'closed');
  });

  test('subscribe and publish round trip between two clients', async () => {
    const a = client(srv, 'alice'), b = client(srv, 'bob');
    await Promise.all([a.connect(), b.connect()]);
    try {
      const ch = uniq('lobby');
      const got = collector();
      const sub = await a.subscribe(ch, got);
      assert.equal(sub.recovered, false);
      await b.subscribe(ch, () => {});
      const r1 = await b.publish(ch, { text: 'hello' });
      const r2 = await b.publish(ch, { text: 'ünïcödé ✓' });
      assert.equal(r2.offset, r1.offset + 1);
      await waitFor(() => got.got.length === 2, { what: 'two publications' });
      assert.deepEqual(got.got.map((p) => p.data.text), ['hello', 'ünïcödé ✓']);
      assert.equal(got.got[0].info.user, 'bob');
      assert.equal(got.got[0].channel, ch);
      const h = await a.history(ch, { limit: 10 });
      assert.deepEqual(h.publications.map((p) => p.offset), [r1.offset, r2.offset]);
      assert.ok(h.publications.every((p) => p.epoch === h.epoch && p.channel === ch));
      await a.unsubscribe(ch);
      await b.publish(ch, { text: 'after' });
      await b.ping();
      await a.ping();
      assert.equal(got.got.length, 2);
    } finally {
      a.close(); b.close();
    }
  });

  test('presence lists the subscribers', async () => {
    const a = client(srv, 'alice'), b = client(srv, 'bob');
    await Promise.all([a.connect(), b.connect()]);
    try {
      const ch = uniq('presence');
      await a.subscribe(ch, () => {});
      await b.subscribe(ch, () => {});
      const pres = await a.presence(ch);
      assert.deepEqual(pres.clients.map((x) => x.user).sort(), ['alice', 'bob']);
    } finally {
      a.close(); b.close();
    }
  });

  test('server errors carry code, message and request id', async () => {
    const c = client(srv, 'carol');
    await c.connect();
    try {
      // No rule grants this channel.
      const err = await c.publish('secret:x', 1).then(() => null, (e) => e);
      assert.ok(err instanceof RampartError, String(err));
      assert.equal(err.code, ErrorCode.Forbidden);
      assert.equal(err.local, false);
      assert.ok(err.requestId, 'request id');
      const err2 = await c.subscribe('user:someone-else', () => {}).then(() => null, (e) => e);
      assert.equal(err2?.code, ErrorCode.Forbidden);
      const err3 = await c.history(uniq('h'), { limit: -1 }).then(() => null, (e) => e);
      assert.equal(err3?.code, ErrorCode.BadRequest);
      // Checked locally.
      const ch = uniq('dup');
      await c.subscribe(ch, () => {});
      const err4 = await c.subscribe(ch, () => {}).then(() => null, (e) => e);
      assert.equal(err4?.code, ErrorCode.AlreadySubscribed);
      assert.equal(err4.local, true);
      const err5 = await c.subscribe('bad channel!', () => {}).then(() => null, (e) => e);
      assert.equal(err5?.code, ErrorCode.BadRequest);
      await c.ping();
      assert.equal(c.state, 'connected');
      // Own channel is allowed.
      await c.subscribe('user:carol', () => {});
    } finally {
      c.close();
    }
  });

  test('a message over max_message_bytes is refused locally, the connection stays', async () => {
    const c = client(srv, 'dave');
    const w = await c.connect();
    const downs = [];
    c.on('disconnected', (d) => downs.push(d));
    try {
      const max = w.limits.max_message_bytes;
      const ch = uniq('big');
      // Counted in UTF-8 bytes: 'é' is two bytes.
      const text = 'é'.repeat(Math.ceil(max / 2));
      const err = await c.publish(ch, { text }).then(() => null, (e) => e);
      assert.ok(err instanceof RampartError);
      assert.equal(err.code, ErrorCode.MessageTooBig);
      assert.equal(err.local, true);
      assert.match(err.message, new RegExp(String(max)));
      // Just under the limit is sent.
      const fits = 'x'.repeat(max - 200);
      await c.subscribe(ch, () => {});
      await c.publish(ch, { text: fits });
      await c.ping();
      assert.equal(c.state, 'connected');
      assert.deepEqual(downs, []);
    } finally {
      c.close();
    }
  });

  test('rate_limited carries retryAfterMs', async () => {
    const c = client(srv, 'rita');
    await c.connect();
    try {
      const ch = uniq('rate');
      let err = null;
      for (let i = 0; i < 40 && !err; i++) err = await c.publish(ch, i).then(() => null, (e) => e);
      assert.ok(err instanceof RampartError, 'rate_limited within 40 publishes');
      assert.equal(err.code, ErrorCode.RateLimited);
      assert.ok(err.retryAfterMs > 0, `retryAfterMs ${err.retryAfterMs}`);
      assert.ok(err.requestId);
    } finally {
      c.close();
    }
  });

  test('close 1009 stops the client without reconnecting', async () => {
    const c = client(srv, 'sam');
    const w = await c.connect();
    const downs = [];
    c.on('disconnected', (d) => downs.push(d));
    const states = [];
    c.on('state', ({ state }) => states.push(state));
    // Pretend the limit is larger, so the frame reaches the server.
    const max = w.limits.max_message_bytes;
    c.welcome.limits.max_message_bytes = max * 4;
    const err = await c.publish(uniq('big'), 'x'.repeat(max * 2)).then(() => null, (e) => e);
    assert.equal(err?.code, ErrorCode.ConnectionLost);
    await waitFor(() => c.state === 'closed', { what: 'closed state' });
    assert.equal(downs.length, 1);
    assert.equal(downs[0].code, 1009);
    assert.equal(downs[0].reconnect, false);
    assert.ok(c.errors.some((e) => e.code === ErrorCode.ConnectionClosed && e.closeCode === 1009));
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(states, ['closed'], 'no reconnection attempt');
  });

  test('renews a short-lived token on refresh_required without reconnecting', async () => {
    let calls = 0;
    const c = client(srv, 'erin', { getToken: () => { calls++; return srv.token('erin', 3); } });
    const downs = [];
    c.on('disconnected', (d) => downs.push(d));
    const refreshed = [];
    c.on('token_refreshed', (r) => refreshed.push(r));
    const w = await c.connect();
    const firstExp = w.expiresAt;
    try {
      await waitFor(() => refreshed.length >= 1, { timeout: 5000, what: 'token_refreshed' });
      assert.ok(calls >= 2, `getToken called ${calls} times`);
      assert.ok(c.welcome.expiresAt >= firstExp);
      // Past the first token's expiry: still the same connection.
      await new Promise((r) => setTimeout(r, Math.max(0, firstExp - Date.now()) + 500));
      await c.ping();
      assert.deepEqual(downs.filter((d) => d.code === 4001), []);
      assert.deepEqual(c.errors, []);
    } finally {
      c.close();
    }
  });

  test('after close 4001 fetches a new token, reconnects and recovers missed publications', async () => {
    // The first token lives 3s and renewal fails, so the server closes with 4001.
    let phase = 'first';
    let release;
    const gate = new Promise((r) => { release = r; });
    const getToken = async () => {
      if (phase === 'first') { phase = 'refuse'; return srv.token('frank', 3); }
      if (phase === 'refuse') throw new Error('token service down');
      await gate;
      return srv.token('frank', 3600);
    };
    const a = client(srv, 'frank', { getToken });
    const b = client(srv, 'grace');
    await Promise.all([a.connect(), b.connect()]);
    const ch = uniq('recover');
    const got = collector();
    const recoveredEv = [];
    a.on('recovered', (e) => recoveredEv.push(e));
    const downs = [];
    a.on('disconnected', (d) => downs.push(d));
    try {
      await a.subscribe(ch, got);
      await b.publish(ch, 'one');
      await waitFor(() => got.got.length === 1, { what: 'first publication' });
      await waitFor(() => downs.some((d) => d.code === 4001), { timeout: 15000, what: 'close 4001' });
      phase = 'gate';
      await b.publish(ch, 'two');
      await b.publish(ch, 'three');
      release();
      await waitFor(() => a.state === 'connected', { timeout: 10000, what: 'reconnection' });
      await waitFor(() => got.got.length === 3, { what: 'recovered publications' });
      await b.publish(ch, 'four');
      await waitFor(() => got.got.length === 4, { what: 'live publication' });
      assert.deepEqual(got.got.map((p) => p.data), ['one', 'two', 'three', 'four']);
      const offs = got.got.map((p) => p.offset);
      assert.deepEqual(offs, [offs[0], offs[0] + 1, offs[0] + 2, offs[0] + 3]);
      assert.deepEqual(recoveredEv, [{ channel: ch, publications: 2 }]);
      assert.ok(a.errors.some((e) => e.code === ErrorCode.TokenUnavailable || /token service down/.test(String(e.cause ?? e))));
    } finally {
      a.close(); b.close();
    }
  });

  test('requests wait for the connection and fail cleanly after close()', async () => {
    const c = client(srv, 'heidi');
    const err = await c.ping().then(() => null, (e) => e);
    assert.equal(err?.code, ErrorCode.NotConnected);
    const connected = c.connect();
    const p = c.ping(); // waits for the welcome
    assert.equal(c.state, 'connecting');
    await p;
    await connected;
    c.close();
    const err2 = await c.publish(uniq('x'), 1).then(() => null, (e) => e);
    assert.equal(err2?.code, ErrorCode.NotConnected);
  });
});

describe('server restart (memory broker)', () => {
  test('reconnects and reports recovery_failed when history is gone', async () => {
    let srv = await startServer();
    const port = srv.port;
    const a = client(srv, 'ivan');
    const failed = [];
    a.on('recovery_failed', (e) => failed.push(e));
    try {
      await a.connect();
      const ch = uniq('restart');
      const got = collector();
      await a.subscribe(ch, got);
      await a.publish(ch, 'before');
      await waitFor(() => got.got.length === 1, { what: 'publication' });
      await srv.kill();
      await waitFor(() => a.state !== 'connected', { what: 'disconnect' });
      srv = await startServer({ port });
      await waitFor(() => a.state === 'connected', { timeout: 15000, what: 'reconnection' });
      await waitFor(() => failed.length === 1, { what: 'recovery_failed' });
      assert.equal(failed[0].channel, ch);
      await a.publish(ch, 'after');
      await waitFor(() => got.got.length === 2, { what: 'publication after restart' });
      assert.deepEqual(got.got.map((p) => p.data), ['before', 'after']);
    } finally {
      a.close();
      await srv.stop();
    }
  });
});

describe('server restart (redis broker)', () => {
  test('reconnects and recovers publications missed while down', async () => {
    const redis = await startRedis();
    let srv = await startServer({ redis: redis.addr });
    const port = srv.port;
    let holdTokens = false, held = 0;
    let release = () => {};
    const getToken = async () => {
      if (holdTokens) { held++; await new Promise((r) => { release = r; }); }
      return srv.token('judy');
    };
    const a = client(srv, 'judy', { getToken });
    const got = collector();
    const failed = [], recovered = [];
    a.on('recovery_failed', (e) => failed.push(e));
    a.on('recovered', (e) => recovered.push(e));
    let b;
    try {
      await a.connect();
      const ch = uniq('redis');
      await a.subscribe(ch, got);
      await a.publish(ch, 'm1');
      await waitFor(() => got.got.length === 1, { what: 'publication' });
      holdTokens = true;
      await srv.kill();
      // A connection attempt fails while the server is down, so the next one asks for a token and waits.
      await waitFor(() => held === 1, { timeout: 10000, what: 'a held token request' });
      srv = await startServer({ port, redis: redis.addr });
      b = client(srv, 'ken');
      await b.connect();
      await b.publish(ch, 'm2');
      await b.publish(ch, 'm3');
      holdTokens = false;
      release();
      await waitFor(() => got.got.length === 3 || failed.length > 0, { timeout: 15000, what: 'recovered publications' });
      assert.deepEqual(failed, [], 'history did not survive the restart: does `serve --dev` use the Redis broker?');
      assert.deepEqual(got.got.map((p) => p.data), ['m1', 'm2', 'm3']);
      assert.deepEqual(recovered, [{ channel: ch, publications: 2 }]);
    } finally {
      a.close(); b?.close();
      await srv.stop();
      await redis.stop();
    }
  });
});

// faultySocket returns Node's WebSocket class with faults the test switches
// on, and its controls. lose(channel, n): the next n publication frames of
// channel vanish before the client reads them, as when the server node's
// broker link dropped them (the channel's history keeps them). repeat(channel,
// n): the next n are read twice (an at-least-once broker). holdHistory():
// history commands wait, unsent, until release(). read(channel) counts the
// publication frames of channel handed to the client. The server is real.
function faultySocket() {
  const lose = new Map(), repeat = new Map(), read = new Map();
  let held = null;
  const take = (m, ch) => { const n = m.get(ch) ?? 0; if (n > 0) m.set(ch, n - 1); return n > 0; };
  class Faulty extends WebSocket {
    get onmessage() { return this.appOnMessage ?? null; }
    set onmessage(fn) {
      this.appOnMessage = fn;
      super.onmessage = fn && ((ev) => {
        const msg = JSON.parse(String(ev.data));
        if (msg.push !== 'publication') { fn(ev); return; }
        if (take(lose, msg.channel)) return;
        read.set(msg.channel, (read.get(msg.channel) ?? 0) + 1);
        fn(ev);
        if (take(repeat, msg.channel)) fn(ev);
      });
    }
    send(data) {
      if (held && JSON.parse(data).action === 'history') { held.push(() => super.send(data)); return; }
      super.send(data);
    }
  }
  return {
    WebSocket: Faulty,
    lose: (ch, n) => lose.set(ch, (lose.get(ch) ?? 0) + n),
    repeat: (ch, n) => repeat.set(ch, (repeat.get(ch) ?? 0) + n),
    read: (ch) => read.get(ch) ?? 0,
    holdHistory() { held = []; },
    held: () => held?.length ?? 0,
    release() { const h = held; held = null; for (const send of h) send(); },
  };
}

async function publishN(c, ch, n) {
  for (let i = 0; i < n; i++) await c.publish(ch, i);
}

describe('gaps in live publications', () => {
  let srv;
  // max_history_limit 2: filling a gap takes several history pages.
  before(async () => {
    srv = await startServer({ env: {
      RAMPART_LIMITS_MAX_HISTORY_LIMIT: '2', RAMPART_LIMITS_MESSAGES_PER_MINUTE: '100000', RAMPART_LIMITS_BURST: '100000',
    } });
  });
  after(async () => { await srv?.stop(); });

  // pair connects a subscriber on a faulty socket and a publisher; both
  // are closed after the test.
  async function pair(t, user = 'sub', extra = {}) {
    const f = faultySocket();
    const a = client(srv, user, { WebSocket: f.WebSocket, ...extra });
    const b = client(srv, 'pub');
    t.after(() => { a.close(); b.close(); });
    a.failed = [];
    a.on('recovery_failed', (e) => a.failed.push(e));
    a.recoveredEv = [];
    a.on('recovered', (e) => a.recoveredEv.push(e));
    await Promise.all([a.connect(), b.connect()]);
    return { f, a, b };
  }

  test('a gap is filled from history, in order, before the live publication', async (t) => {
    const { f, a, b } = await pair(t);
    const ch = uniq('gap');
    const got = collector();
    await a.subscribe(ch, got);
    await publishN(b, ch, 2);
    await waitFor(() => got.got.length === 2, { what: 'two publications' });
    f.lose(ch, 5); // 3 to 7 never reach the client
    await publishN(b, ch, 7); // 8 and 9 live
    await waitFor(() => got.got.length >= 9, { what: 'nine publications' });
    await publishN(b, ch, 1);
    await waitFor(() => got.got.length >= 10, { what: 'ten publications' });
    assert.deepEqual(got.got.map((p) => p.offset), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(a.failed, []);
    assert.deepEqual(a.recoveredEv, [{ channel: ch, publications: 5 }]);
    assert.deepEqual(a.errors, []);
  });

  test('a gap history cannot fill is reported, then delivery goes on', async (t) => {
    // user:{sub} keeps no history: nothing of the gap can be recovered.
    const { f, a } = await pair(t, 'una');
    const ch = 'user:una';
    const got = collector();
    await a.subscribe(ch, got);
    await a.publish(ch, 'one');
    await waitFor(() => got.got.length === 1, { what: 'first publication' });
    const epoch = got.got[0].epoch;
    f.lose(ch, 2); // 2 and 3
    await publishN(a, ch, 3);
    await waitFor(() => got.got.length === 2, { what: 'the publication after the gap' });
    await a.publish(ch, 'five');
    await waitFor(() => got.got.length === 3, { what: 'the next one' });
    assert.deepEqual(got.got.map((p) => p.offset), [1, 4, 5]);
    assert.deepEqual(a.failed, [{ channel: ch, since: { offset: 1, epoch }, offset: 3, epoch }]);
  });

  test('what history still has is delivered and the rest reported', async (t) => {
    // chat:* keeps 100: when 104 arrives, history has 5 to 104.
    const { f, a, b } = await pair(t);
    const ch = uniq('partly');
    const order = [];
    await a.subscribe(ch, (p) => order.push(p.offset));
    a.on('recovery_failed', (e) => order.push(`lost ${e.since.offset}-${e.offset}`));
    await publishN(b, ch, 1);
    await waitFor(() => order.length === 1, { what: 'first publication' });
    f.lose(ch, 102); // 2 to 103
    await publishN(b, ch, 103);
    await waitFor(() => order.length >= 102, { timeout: 20000, what: 'the gap filled' });
    const want = [1, 'lost 1-4'];
    for (let i = 5; i <= 104; i++) want.push(i);
    assert.deepEqual(order, want);
  });

  test('repeated offsets are dropped, also while a gap is filled', async (t) => {
    const { f, a, b } = await pair(t);
    const ch = uniq('twice');
    const got = collector();
    await a.subscribe(ch, got);
    f.repeat(ch, 2);
    await publishN(b, ch, 2);
    await waitFor(() => f.read(ch) === 2, { what: 'two publications read' });
    f.lose(ch, 1); // 3
    f.repeat(ch, 2); // 4 and 5, twice each
    await publishN(b, ch, 3);
    await waitFor(() => got.got.length >= 5, { what: 'five publications' });
    await publishN(b, ch, 1);
    await waitFor(() => got.got.length >= 6, { what: 'six publications' });
    assert.deepEqual(got.got.map((p) => p.offset), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(a.failed, []);
  });

  test('past 1024 held publications, the rest is reported lost', async (t) => {
    const { f, a, b } = await pair(t);
    const ch = uniq('flood');
    const order = [];
    await a.subscribe(ch, (p) => order.push(p.offset));
    a.on('recovery_failed', (e) => order.push(`lost ${e.since.offset}-${e.offset}`));
    await publishN(b, ch, 1);
    await waitFor(() => order.length === 1, { what: 'first publication' });
    f.holdHistory();
    f.lose(ch, 1); // 2
    await publishN(b, ch, 2); // 3 shows the gap
    await waitFor(() => f.held() === 1, { what: 'the history command' });
    await Promise.all(Array.from({ length: 10 }, () => publishN(b, ch, 103))); // 4 to 1033
    await waitFor(() => f.read(ch) === 1 + 1 + 1030, { timeout: 20000, what: 'every publication read' });
    f.release();
    await waitFor(() => order.length >= 1027, { timeout: 20000, what: 'the held publications' });
    await publishN(b, ch, 1); // 1034
    await waitFor(() => order.length >= 1028, { what: 'the next publication' });
    // By then chat:*'s history (100) no longer has 2; 3 to 1026 were held,
    // 1027 to 1033 were not.
    const want = [1, 'lost 1-2'];
    for (let i = 3; i <= 1026; i++) want.push(i);
    want.push('lost 1026-1033', 1034);
    assert.deepEqual(order, want);
  });

  test('a history command that times out reports the gap', async (t) => {
    const { f, a, b } = await pair(t, 'sub', { requestTimeoutMs: 1000 });
    const ch = uniq('slow');
    const got = collector();
    await a.subscribe(ch, got);
    await publishN(b, ch, 1);
    await waitFor(() => got.got.length === 1, { what: 'first publication' });
    f.holdHistory();
    f.lose(ch, 2); // 2 and 3
    await publishN(b, ch, 3);
    await waitFor(() => a.failed.length === 1, { what: 'recovery_failed' });
    await waitFor(() => got.got.length === 2, { what: 'the publication after the gap' });
    const e = got.got[0].epoch;
    assert.deepEqual(a.failed, [{ channel: ch, since: { offset: 1, epoch: e }, offset: 3, epoch: e }]);
    assert.deepEqual(got.got.map((p) => p.offset), [1, 4]);
  });
});

describe('epoch change on a live publication (redis broker)', () => {
  test('the reset is reported and delivery goes on in the new epoch', async (t) => {
    const redis = await startRedis();
    const srv = await startServer({ redis: redis.addr });
    const a = client(srv, 'sub'), b = client(srv, 'pub');
    t.after(async () => { a.close(); b.close(); await srv.stop(); await redis.stop(); });
    const failed = [];
    a.on('recovery_failed', (e) => failed.push(e));
    await Promise.all([a.connect(), b.connect()]);
    const ch = uniq('reset');
    const got = collector();
    await a.subscribe(ch, got);
    await publishN(b, ch, 3);
    await waitFor(() => got.got.length === 3, { what: 'three publications' });
    const old = got.got[2].epoch;
    await redisCommand(redis.addr, 'FLUSHALL'); // the history is lost; pub/sub goes on
    await publishN(b, ch, 2);
    await waitFor(() => got.got.length === 5, { what: 'the new epoch' });
    const fresh = got.got[3].epoch;
    assert.notEqual(fresh, old);
    assert.deepEqual(got.got.map((p) => [p.offset, p.epoch]), [[1, old], [2, old], [3, old], [1, fresh], [2, fresh]]);
    assert.deepEqual(failed, [{ channel: ch, since: { offset: 3, epoch: old }, offset: 0, epoch: fresh }]);
  });
});

// redisCommand sends one inline command to Redis and resolves with its
// first reply line.
async function redisCommand(addr, cmd) {
  const { connect } = await import('node:net');
  const [host, port] = addr.split(':');
  return new Promise((ok, fail) => {
    const s = connect(Number(port), host, () => s.write(cmd + '\r\n'));
    s.once('data', (d) => { s.end(); ok(String(d).split('\r\n')[0]); });
    s.once('error', fail);
  });
}

// replyFaults returns Node's WebSocket class, which records the publish
// commands the client sends, and its controls. hide(n): the server's
// answers to the next n publishes are read as unavailable errors (the
// server has stored and delivered those publications, as a broker that
// stored one and then failed to answer would). hold(): the answer to the
// next publish is kept from the client, so that the test can drop the
// connection before it is read. The server is real.
function replyFaults() {
  const publishes = [], answers = [];
  let hide = 0, hold = 0;
  const targets = new Map(); // publish id: 'hide' or 'hold'
  class Faulty extends WebSocket {
    send(data) {
      const msg = JSON.parse(data);
      if (msg.action === 'publish') {
        publishes.push(msg);
        if (hold > 0) { hold--; targets.set(msg.id, 'hold'); } else if (hide > 0) { hide--; targets.set(msg.id, 'hide'); }
      }
      super.send(data);
    }
    get onmessage() { return this.appOnMessage ?? null; }
    set onmessage(fn) {
      this.appOnMessage = fn;
      super.onmessage = fn && ((ev) => {
        const msg = JSON.parse(String(ev.data));
        const fault = targets.get(msg.id);
        if (!fault) { fn(ev); return; }
        targets.delete(msg.id);
        answers.push(msg);
        if (fault === 'hold') return;
        fn({ data: JSON.stringify({ id: msg.id, error: { code: 'unavailable', message: 'hidden by the test', request_id: 'test' } }) });
      });
    }
  }
  return {
    WebSocket: Faulty,
    publishes,
    answers, // the server's real answers to the publishes faulted
    hide: (n = 1) => { hide += n; },
    hold: () => { hold++; },
  };
}

describe('publish retries', () => {
  const apiKey = 'publish-retries-test-key-0123456789abcdef';
  let srv;
  before(async () => { srv = await startServer({ env: { RAMPART_API_KEYS: apiKey } }); });
  after(async () => { await srv?.stop(); });

  // pair connects a publisher on a faulty socket and a subscriber of ch;
  // both are closed after the test.
  async function pair(t, ch) {
    const f = replyFaults();
    const a = client(srv, 'pub', { WebSocket: f.WebSocket, backoff: { baseMs: 20, maxMs: 100 } });
    const b = client(srv, 'sub');
    t.after(() => { a.close(); b.close(); });
    await Promise.all([a.connect(), b.connect()]);
    const got = collector();
    await b.subscribe(ch, got);
    return { f, a, b, got };
  }

  const keys = (f) => f.publishes.map((p) => p.idempotency_key);

  test('an unavailable answer is retried with the same key; the publication is stored once', async (t) => {
    const ch = uniq('unknown');
    const { f, a, got } = await pair(t, ch);
    f.hide(1);
    const r = await a.publish(ch, 'once');
    assert.equal(f.answers.length, 1);
    assert.equal(r.offset, f.answers[0].result.offset, 'the offset the server gave the first attempt');
    const [k1, k2] = keys(f);
    assert.equal(keys(f).length, 2);
    assert.match(k1, /^[A-Za-z0-9_.:@-]{1,64}$/);
    assert.equal(k2, k1);
    await a.publish(ch, 'next');
    await waitFor(() => got.got.length >= 2, { what: 'two publications' });
    assert.deepEqual(got.got.map((p) => p.data), ['once', 'next']);
    assert.deepEqual(got.got.map((p) => p.offset), [r.offset, r.offset + 1]);
  });

  test('a connection lost before the answer is retried on the next one with the same key', async (t) => {
    const ch = uniq('dropped');
    const { f, a, got } = await pair(t, ch);
    const downs = [];
    a.on('disconnected', (d) => downs.push(d));
    f.hold();
    const p = a.publish(ch, 'once');
    await waitFor(() => f.answers.length === 1, { what: 'the held answer' });
    const res = await fetch(`${srv.base}/api/disconnect`, {
      method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'pub', code: 4000 }),
    });
    assert.equal(res.status, 200);
    const r = await p;
    assert.deepEqual(downs.map((d) => d.code), [4000]);
    assert.equal(r.offset, f.answers[0].result.offset);
    assert.equal(keys(f).length, 2);
    assert.equal(keys(f)[1], keys(f)[0]);
    await a.publish(ch, 'next');
    await waitFor(() => got.got.length >= 2, { what: 'two publications' });
    assert.deepEqual(got.got.map((p) => p.data), ['once', 'next']);
  });

  test('at most three attempts', async (t) => {
    const ch = uniq('bounded');
    const { f, a, got } = await pair(t, ch);
    f.hide(5);
    const err = await a.publish(ch, 'once').then(() => null, (e) => e);
    assert.ok(err instanceof RampartError, String(err));
    assert.equal(err.code, ErrorCode.Unavailable);
    assert.equal(keys(f).length, 3);
    assert.equal(new Set(keys(f)).size, 1);
    await waitFor(() => got.got.length >= 1, { what: 'the publication' });
    assert.deepEqual(got.got.map((p) => p.data), ['once']);
  });

  test('two publishes without a key are two publications', async (t) => {
    const ch = uniq('twice');
    const { f, a, got } = await pair(t, ch);
    const r1 = await a.publish(ch, 'same');
    const r2 = await a.publish(ch, 'same');
    assert.equal(r2.offset, r1.offset + 1);
    const [k1, k2] = keys(f);
    assert.ok(k1 && k2 && k1 !== k2, `keys ${k1} and ${k2}`);
    await waitFor(() => got.got.length >= 2, { what: 'two publications' });
    assert.deepEqual(got.got.map((p) => p.data), ['same', 'same']);
  });

  test('a key given by the caller is sent as is', async (t) => {
    const ch = uniq('keyed');
    const { f, a, got } = await pair(t, ch);
    const r1 = await a.publish(ch, 'order', { idempotencyKey: 'order-42' });
    const r2 = await a.publish(ch, 'order', { idempotencyKey: 'order-42' });
    assert.equal(r2.offset, r1.offset);
    assert.deepEqual(keys(f), ['order-42', 'order-42']);
    for (const bad of ['', 'with space', 'é', 'k'.repeat(65)]) {
      const err = await a.publish(ch, 'bad', { idempotencyKey: bad }).then(() => null, (e) => e);
      assert.equal(err?.code, ErrorCode.BadRequest, `key ${JSON.stringify(bad)}`);
      assert.equal(err.local, true);
    }
    assert.equal(f.publishes.length, 2);
    await a.publish(ch, 'after');
    await waitFor(() => got.got.length >= 2, { what: 'two publications' });
    assert.deepEqual(got.got.map((p) => p.data), ['order', 'after']);
  });
});
