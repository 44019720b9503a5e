// The client's events for what the server does on its own: the welcome on
// every connection, a subscription the server ends, and subscriptions the
// server makes (the subscribe push). Against real Rampart servers.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RampartClient, ErrorCode } from '../dist/index.js';
import { startServer, startConfigServer, waitFor } from './helpers/server.mjs';

const fast = { baseMs: 100, maxMs: 1000 };
const apiKey = 'pushes-test-api-key-0123456789abcdef';
const uniq = (p) => `chat:${p}-${Math.random().toString(36).slice(2, 8)}`;

// client returns a client of user on srv, closed after the test t.
function client(t, srv, user) {
  const c = new RampartClient(srv.wsURL, { getToken: async () => srv.token(user), backoff: fast });
  c.errors = [];
  c.on('error', (e) => c.errors.push(e));
  t.after(() => c.close());
  return c;
}

// api calls the server's HTTP API and resolves with its answer.
async function api(srv, path, body) {
  const res = await fetch(`${srv.base}${path}`, {
    method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = await res.text();
  assert.equal(res.status, 200, `${path} answered ${answer}`);
  return JSON.parse(answer);
}

async function publishN(c, ch, n) {
  for (let i = 0; i < n; i++) await c.publish(ch, i);
}

// serverSubs records every ServerSubscription c is handed, with the
// publications and ends its handlers see, and the unsubscribed events.
function serverSubs(c) {
  const subs = [];
  subs.unsubscribed = [];
  c.on('server_subscribed', (s) => {
    s.got = [];
    s.ends = [];
    s.onPublication = (p) => s.got.push(p);
    s.onEnd = (reason) => s.ends.push(reason);
    subs.push(s);
  });
  c.on('unsubscribed', (e) => subs.unsubscribed.push(e));
  return subs;
}

describe('with a dev server and its HTTP API', () => {
  let srv;
  before(async () => { srv = await startServer({ env: { RAMPART_API_KEYS: apiKey } }); });
  after(async () => { await srv?.stop(); });

  test('connected is emitted with the welcome of every connection', async (t) => {
    const c = client(t, srv, 'cora');
    const seen = [];
    c.on('connected', (w) => seen.push({ ...w }));
    const w = await c.connect();
    assert.equal(seen.length, 1);
    assert.deepEqual(seen[0], { ...w });
    assert.equal(seen[0].user, 'cora');
    const r = await api(srv, '/api/disconnect', { user: 'cora', code: 4000 });
    assert.equal(r.disconnected, 1);
    await waitFor(() => seen.length === 2, { what: 'the second connected event' });
    assert.equal(seen[1].user, 'cora');
    assert.notEqual(seen[1].client, seen[0].client, 'a new connection');
    assert.equal(c.welcome.client, seen[1].client);
  });

  test('server_subscribed hands a subscription the server made; its publications follow in order; the server ends it', async (t) => {
    const a = client(t, srv, 'sara'), b = client(t, srv, 'pub');
    await Promise.all([a.connect(), b.connect()]);
    const subs = serverSubs(a);
    const ch = uniq('srv');
    await publishN(b, ch, 2);
    assert.equal((await api(srv, '/api/subscribe', { user: 'sara', channel: ch })).connections, 1);
    await waitFor(() => subs.length === 1, { what: 'server_subscribed' });
    const s = subs[0];
    assert.equal(s.channel, ch);
    assert.equal(s.position.offset, 2);
    assert.ok(s.position.epoch);
    assert.equal(s.active, true);
    await publishN(b, ch, 3);
    await waitFor(() => s.got.length === 3, { what: 'three publications' });
    assert.deepEqual(s.got.map((p) => p.offset), [3, 4, 5]);
    assert.ok(s.got.every((p) => p.channel === ch && p.epoch === s.position.epoch && p.info.user === 'pub'));
    assert.deepEqual(s.position, { offset: 5, epoch: s.got[2].epoch });
    const dup = await a.subscribe(ch, () => {}).then(() => null, (e) => e);
    assert.equal(dup?.code, ErrorCode.AlreadySubscribed);
    assert.equal(dup.local, true);

    assert.equal((await api(srv, '/api/unsubscribe', { user: 'sara', channel: ch })).connections, 1);
    await waitFor(() => s.ends.length === 1, { what: 'the end' });
    assert.equal(s.active, false);
    assert.ok(s.ends[0], 'the server gives a reason');
    assert.deepEqual(subs.unsubscribed, [{ channel: ch, reason: s.ends[0] }]);
    await a.publish(ch, 'after');
    await a.ping(); // the publication, if sent to a, came before this reply
    assert.equal(s.got.length, 3);
    await a.subscribe(ch, () => {}); // neither the client nor the server has it any more
    assert.deepEqual(a.errors, []);
  });

  test('unsubscribe() ends a subscription the server made, with the ordinary command', async (t) => {
    const a = client(t, srv, 'ursa');
    await a.connect();
    const subs = serverSubs(a);
    const ch = uniq('mine');
    await api(srv, '/api/subscribe', { user: 'ursa', channel: ch });
    await waitFor(() => subs.length === 1, { what: 'server_subscribed' });
    const s = subs[0];
    await a.publish(ch, 'one');
    await waitFor(() => s.got.length === 1, { what: 'the publication' });
    await s.unsubscribe();
    assert.equal(s.active, false);
    await a.publish(ch, 'two');
    await a.ping();
    assert.equal(s.got.length, 1);
    assert.deepEqual(s.ends, [], 'onEnd is for the server and the connection ending it');
    assert.deepEqual(subs.unsubscribed, []);
    const r = await a.subscribe(ch, () => {}); // the server forgot it: not already_subscribed
    assert.equal(r.offset, 2);
  });

  test('a subscription the server made ends with its connection and is not made again by the client', async (t) => {
    const a = client(t, srv, 'cleo');
    await a.connect();
    const subs = serverSubs(a);
    const downs = [];
    a.on('disconnected', (d) => downs.push(d));
    const ch = uniq('conn');
    await api(srv, '/api/subscribe', { user: 'cleo', channel: ch });
    await waitFor(() => subs.length === 1, { what: 'server_subscribed' });
    const first = subs[0];
    await a.publish(ch, 'one');
    await waitFor(() => first.got.length === 1, { what: 'the publication' });

    await api(srv, '/api/disconnect', { user: 'cleo', code: 4000 });
    await waitFor(() => first.ends.length === 1, { what: 'the end' });
    assert.deepEqual(first.ends, ['disconnected']);
    assert.equal(first.active, false);
    assert.deepEqual(subs.unsubscribed, [{ channel: ch, reason: 'disconnected' }]);
    await waitFor(() => a.state === 'connected', { what: 'the reconnection' });
    assert.deepEqual(downs.map((d) => d.code), [4000]);
    await a.publish(ch, 'two');
    assert.deepEqual((await a.presence(ch)).clients, [], 'not subscribed again');
    assert.equal(first.got.length, 1);

    await api(srv, '/api/subscribe', { user: 'cleo', channel: ch });
    await waitFor(() => subs.length === 2, { what: 'the second server_subscribed' });
    const again = subs[1];
    assert.notEqual(again, first);
    assert.equal(again.position.offset, 2);
    await a.publish(ch, 'three');
    await waitFor(() => again.got.length === 1, { what: 'a publication on the new subscription' });
    assert.deepEqual(again.got.map((p) => [p.offset, p.data]), [[3, 'three']]);
  });
});

const rules = (extra) => `listen: "127.0.0.1:0"
origins: { allow_missing: true }
log: { format: json, level: info }
limits: { shutdown_spread: 10ms }
channels:
  - pattern: "chat:*"
    subscribe: ["*"]
    publish: ["*"]
${extra}`;

describe('with a configuration file', () => {
  let srv;
  before(async () => {
    srv = await startConfigServer(rules(`  - pattern: "temp:*"
    subscribe: ["*"]
    publish: ["*"]
`));
  });
  after(async () => { await srv?.stop(); });

  test('unsubscribed: a reload that removes the channel rule ends the subscription', async (t) => {
    const a = client(t, srv, 'tess');
    await a.connect();
    const ends = [];
    a.on('unsubscribed', (e) => ends.push(e));
    const got = [];
    await a.subscribe('temp:x', (p) => got.push(p));
    await a.publish('temp:x', 'one');
    await waitFor(() => got.length === 1, { what: 'the publication' });

    await srv.reload(rules(''));
    await waitFor(() => ends.length === 1, { what: 'unsubscribed' });
    assert.equal(ends[0].channel, 'temp:x');
    assert.ok(ends[0].reason, 'the server gives a reason');
    await a.ping();
    assert.equal(a.state, 'connected');
    // The client forgot it: a new subscribe goes to the server, which refuses it now.
    const err = await a.subscribe('temp:x', () => {}).then(() => null, (e) => e);
    assert.equal(err?.code, ErrorCode.Forbidden);
    assert.equal(err.local, false);
    assert.deepEqual(got.map((p) => p.data), ['one']);
  });
});
