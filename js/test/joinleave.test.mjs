// Join and leave: a subscription's onJoin, onLeave and onPresenceChanged
// callbacks and the client's join, leave and presence_changed events,
// against a real Rampart server whose rule asks for join_leave.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RampartClient, ErrorCode } from '../dist/index.js';
import { startConfigServer, waitFor } from './helpers/server.mjs';

const fast = { baseMs: 100, maxMs: 1000 };
const uniq = (p) => `${p}:${Math.random().toString(36).slice(2, 8)}`;

const config = `listen: "127.0.0.1:0"
origins: { allow_missing: true }
log: { format: json, level: info }
limits:
  shutdown_spread: 10ms
  join_leave_window: 20ms
  join_leave_max_clients: 5
  max_connections_per_ip: 200
  handshakes_per_ip_per_minute: 10000
channels:
  - pattern: "room:*"
    subscribe: ["*"]
    presence: true
    join_leave: true
    presence_roles: [member]
`;

function client(t, srv, user, roles = ['member']) {
  const c = new RampartClient(srv.wsURL, { getToken: async () => srv.token(user, 3600, roles), backoff: fast });
  c.errors = [];
  c.on('error', (e) => c.errors.push(e));
  t.after(() => c.close());
  return c;
}

// watch subscribes c to ch and records what its callbacks and events see.
async function watch(c, ch) {
  const seen = { joins: [], leaves: [], changed: [], events: [] };
  for (const kind of ['join', 'leave', 'presence_changed']) c.on(kind, (ev) => seen.events.push({ kind, ...ev }));
  await c.subscribe(ch, () => {}, {
    onJoin: (ev) => seen.joins.push(ev),
    onLeave: (ev) => seen.leaves.push(ev),
    onPresenceChanged: (ev) => seen.changed.push(ev),
  });
  return seen;
}

const names = (evs) => evs.flatMap((ev) => ev.clients.map((e) => `${e.user}/${e.client}`));

describe('join and leave', () => {
  let srv;
  before(async () => { srv = await startConfigServer(config); });
  after(async () => { await srv?.stop(); });

  test('onJoin and onLeave name each client that subscribes and leaves, never the client itself', async (t) => {
    const w = client(t, srv, 'wanda'), a = client(t, srv, 'abel');
    await Promise.all([w.connect(), a.connect()]);
    const ch = uniq('room');
    const seenW = await watch(w, ch);
    const seenA = await watch(a, ch);
    await waitFor(() => seenW.joins.length === 1, { what: 'the join of abel' });
    assert.deepEqual(seenW.joins[0], { channel: ch, clients: [{ user: 'abel', client: a.welcome.client }] });
    assert.deepEqual(seenW.events, [{ kind: 'join', channel: ch, clients: [{ user: 'abel', client: a.welcome.client }] }]);
    // abel may hear of wanda (her join can share a window with his), never of himself.

    await a.unsubscribe(ch);
    await waitFor(() => seenW.leaves.length === 1, { what: 'the leave of abel' });
    assert.deepEqual(names(seenW.leaves), [`abel/${a.welcome.client}`]);
    for (const n of [...names(seenA.joins), ...names(seenA.leaves)]) {
      assert.notEqual(n, `abel/${a.welcome.client}`, 'abel never hears of himself');
    }
    assert.deepEqual(seenA.leaves, []);
    assert.deepEqual(w.errors, []);
  });

  test('a subscriber that may not read presence hears nothing', async (t) => {
    const w = client(t, srv, 'walt'), g = client(t, srv, 'gus', ['guest']), a = client(t, srv, 'ava');
    await Promise.all([w.connect(), g.connect(), a.connect()]);
    const ch = uniq('room');
    const seenG = await watch(g, ch);
    await assert.rejects(g.presence(ch), (e) => e.code === ErrorCode.Forbidden);
    const seenW = await watch(w, ch);
    await a.subscribe(ch, () => {});
    await waitFor(() => names(seenW.joins).includes(`ava/${a.welcome.client}`), { what: 'the join of ava' });
    await a.unsubscribe(ch); // after the join went out: a join and leave within one window would cancel out
    await waitFor(() => seenW.leaves.length === 1, { what: 'the leave of ava' });
    assert.deepEqual(names(seenW.leaves), [`ava/${a.welcome.client}`]);
    // walt subscribed after gus: gus may not hear of walt either.
    await g.ping();
    assert.deepEqual(seenG, { joins: [], leaves: [], changed: [], events: [] });
  });

  test('onPresenceChanged when more join at once than a push lists', async (t) => {
    const w = client(t, srv, 'wes');
    await w.connect();
    const ch = uniq('room');
    const seenW = await watch(w, ch);
    const first = client(t, srv, 'first');
    await first.connect();
    await first.subscribe(ch, () => {});
    await waitFor(() => seenW.joins.length === 1, { what: 'the first join' });
    const many = Array.from({ length: 20 }, (_, i) => client(t, srv, `m${i}`));
    await Promise.all(many.map((c) => c.connect()));
    await Promise.all(many.map((c) => c.subscribe(ch, () => {})));
    await waitFor(() => seenW.changed.length > 0 || names(seenW.joins).length === 21, { what: 'presence_changed or every join' });
    if (seenW.changed.length > 0) {
      assert.deepEqual(seenW.changed[0], { channel: ch });
      assert.ok(seenW.events.some((e) => e.kind === 'presence_changed' && e.channel === ch));
    }
    for (const ev of seenW.joins) assert.ok(ev.clients.length <= 5, `a push lists ${ev.clients.length} clients, cap 5`);
    const p = await w.presence(ch);
    assert.equal(p.clients.length, 22);
  });
});
