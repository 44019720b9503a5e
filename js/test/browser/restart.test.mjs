// The server is killed and started again on the same port while two tabs
// chat. The tab that was away shows the messages sent while it reconnected,
// each once and in order.
//
// With the memory broker the history dies with the process: the client
// reports recovery_failed and the page backfills from the new history. With
// Redis (RAMPART_BROKER_TYPE=redis) the history survives and the client
// recovers the missed publications itself.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, startRedis, waitFor } from '../helpers/server.mjs';
import { launch, withPages, openChat, say, texts, waitForTexts } from './helpers.mjs';

const cleanups = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

async function restartScenario(track, { redis } = {}) {
  let srv = await startServer({ redis });
  cleanups.push(() => srv.stop());
  const browser = await launch();
  cleanups.push(() => browser.close());
  const a = track(await openChat(browser.context, srv.base, 'away'), 'away');
  const b = track(await openChat(browser.context, srv.base, 'stays'), 'stays');
  await say(a, 'before the restart');
  await waitForTexts(b, ['before the restart']);

  // Hold the away tab's token requests, so it cannot reconnect before the
  // other tab has sent the messages it must recover.
  let hold = true;
  const held = [];
  await a.route('**/dev/token*', (route) => { if (hold) held.push(route); else route.continue(); });

  await srv.kill();
  await waitFor(() => held.length > 0, { timeout: 15000, what: 'the away tab to ask for a new token' });
  srv = await startServer({ port: srv.port, redis });
  await waitFor(async () => (await b.textContent('#state')) === 'connected', { timeout: 15000, what: 'the other tab to reconnect' });
  await say(b, 'missed one');
  await say(b, 'missed two');

  hold = false;
  for (const r of held) await r.continue();
  await waitForTexts(a, ['missed one', 'missed two'], 20000);
  await say(b, 'after the restart');
  const want = ['before the restart', 'missed one', 'missed two', 'after the restart'];
  await waitForTexts(a, want);
  assert.deepEqual(await texts(a), want, 'every message once, in order');
  assert.equal(await a.textContent('#state'), 'connected');
  const body = await a.evaluate(() => ({ ...document.body.dataset }));
  return { ...body, notice: await a.textContent('#notice') };
}

test('reconnects after a restart and shows the missed messages (memory broker)', withPages('restart memory', async (t, track) => {
  const body = await restartScenario(track);
  assert.equal(body.epochs, '2', 'a new epoch: the memory broker lost its history');
  assert.match(body.notice, /history was reset on the server/);
}));

test('reconnects after a restart and recovers the missed messages (redis broker)',
  withPages('restart redis', async (t, track) => {
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const body = await restartScenario(track, { redis: redis.addr });
    assert.equal(body.epochs, undefined, 'history survived the restart (same epoch)');
    assert.equal(body.recovered, '2', 'the two missed messages were recovered');
    assert.equal(body.notice, '2 missed message(s) recovered.');
  }));
