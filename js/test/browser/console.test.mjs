// The admin console in Chromium: log in on the admin listener, watch a
// refused handshake and a refused token appear as security events, and
// disconnect a user whose socket then closes with the console's code.
// It also writes the screenshots docs/operations.md shows.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { startConfigServer, startRedis, repoRoot, waitFor } from '../helpers/server.mjs';
import { launch, withPages, foreignServer } from './helpers.mjs';

const KEY = 'console-test-key-0123456789abcdef';
// The pages' screenshots: docs/images when RAMPART_DOC_IMAGES is set (to
// record them for docs/operations.md), else js/test-results.
const images = process.env.RAMPART_DOC_IMAGES ? join(repoRoot, 'docs', 'images') : join(repoRoot, 'js', 'test-results');

// The users' pages come from a site of their own (allowed by origins),
// the attacker's from another.
const BLANK = '<!doctype html><title>blank</title>';
let srv, browser, admin, site, evil;
const config = () => `listen: "127.0.0.1:0"
origins: { allow: ["${site.base}"] }
metrics: { listen: "127.0.0.1:0" }
console: { enabled: true }
log: { format: json, level: info }
limits: { shutdown_spread: 10ms, messages_per_minute: 600, burst: 20 }
channels:
  - pattern: "chat:*"
    subscribe: ["*"]
    publish: ["*"]
    presence: true
`;

// adminURL is the admin listener a server logged.
function adminURL(s) {
  const m = /"event":"admin_started","addr":"([^"]+)"/.exec(s.out.stdout + s.out.stderr);
  assert.ok(m, 'the admin listener is logged');
  return `http://${m[1]}`;
}

before(async () => {
  site = await foreignServer(BLANK);
  evil = await foreignServer(BLANK);
  srv = await startConfigServer(config(), { env: { RAMPART_API_KEYS: KEY } });
  admin = adminURL(srv);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await srv?.stop();
  await site?.close();
  await evil?.close();
});

// openSocket opens, from a page on the main listener's origin, a WebSocket
// as user (or with a bad token), and records how it closes.
async function openSocket(page, name, token) {
  return page.evaluate(([url, name, token]) => new Promise((ok) => {
    const ws = new WebSocket(url, ['rampart.v1', 'rampart.bearer.' + token]);
    window.sockets ??= {};
    window.sockets[name] = { state: 'connecting' };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.push === 'welcome') {
        window.sockets[name] = { state: 'open', client: msg.client };
        ws.send(JSON.stringify({ id: 1, action: 'subscribe', channel: 'chat:lobby' }));
        // The first user chats four times a second, for the console's rates.
        let id = 1;
        if (name === 'ada') window.chatter = setInterval(() => ws.send(JSON.stringify({ id: ++id, action: 'publish', channel: 'chat:lobby', data: { n: id } })), 250);
        ok(msg.client);
      }
    };
    ws.onclose = (e) => { window.sockets[name] = { state: 'closed', code: e.code, reason: e.reason }; ok(null); };
  }), [srv.wsURL, name, token]);
}

// blankPage opens an empty page of the site at base.
async function blankPage(base) {
  const page = await browser.context.newPage();
  await page.goto(`${base}/`);
  return page;
}

async function login(page, at = admin) {
  await page.goto(`${at}/console/`);
  await page.waitForSelector('#login:not([hidden])');
  await page.fill('#secret', KEY);
  await page.click('#login-form button');
  await page.waitForSelector('body[data-subscribed="true"]', { timeout: 15000 });
}

test('the console logs in, shows security events live and disconnects a user', withPages('console', async (t, track) => {
  const page = track(await browser.context.newPage(), 'console');
  await page.setViewportSize({ width: 1280, height: 960 });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Expected refusals (the session check before login, the wrong key) show
  // as failed loads; anything else, a policy violation above all, is an error.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });

  // A wrong key is refused with the JSON error, and the page says so.
  await page.goto(`${admin}/console/`);
  await page.waitForSelector('#login:not([hidden])');
  await page.fill('#secret', 'not-the-key-not-the-key-00');
  await page.click('#login-form button');
  await page.waitForFunction(() => document.getElementById('login-error').textContent.includes('unauthorized'));
  mkdirSync(images, { recursive: true });
  await page.screenshot({ path: join(images, 'console-login.png') });

  await login(page);
  await page.waitForFunction(() => document.getElementById('total-nodes').textContent === '1', null, { timeout: 10000 });

  // Users on the main listener: two chat clients and the one to disconnect.
  const users = track(await blankPage(site.base), 'users');
  for (const u of ['ada', 'bob', 'victor']) {
    assert.ok(await openSocket(users, u, srv.token(u)), `${u} is connected: ${JSON.stringify(await users.evaluate(() => window.sockets))} ${srv.out.stdout.slice(-1500)}${srv.out.stderr.slice(-1500)}`);
  }

  // A refused handshake made now (a token signed with another secret)
  // appears in the console's events.
  const started = Date.now();
  assert.equal(await openSocket(users, 'forger', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJl'), null);
  await page.click('button[data-tab="security"]');
  await page.waitForSelector('#events tbody tr[data-reason="token"]', { timeout: 5000 });
  t.diagnostic(`refused token shown ${Date.now() - started} ms after the handshake`);
  // And one from a foreign origin.
  const foreign = track(await blankPage(evil.base), 'foreign');
  assert.equal(await openSocket(foreign, 'foreign', srv.token('eve')), null, 'the upgrade is refused');
  assert.equal(await foreign.evaluate(() => window.sockets.foreign.code), 1006);
  await page.waitForSelector('#events tbody tr[data-reason="origin"]', { timeout: 5000 });
  const row = await page.$eval('#events tbody tr[data-reason="origin"]', (tr) => [...tr.cells].map((c) => c.textContent));
  assert.equal(row[3], 'origin_refused');
  assert.match(row[4], /^[0-9a-f]{8}-/, 'the request id is shown');
  assert.equal(row[5], '127.0.0.1');
  // The filter keeps only the chosen reason.
  await page.selectOption('#reason-filter', 'origin');
  const reasons = await page.$$eval('#events tbody tr', (trs) => [...new Set(trs.map((tr) => tr.dataset.reason))]);
  assert.deepEqual(reasons, ['origin']);
  await page.selectOption('#reason-filter', '');
  await page.waitForSelector('#counts tbody tr[data-reason="token"]', { timeout: 5000 });

  // Disconnect victor from the console: his socket closes with 4000.
  await page.click('button[data-tab="overview"]');
  await page.fill('#disconnect-target', 'victor');
  await page.click('#disconnect-form button');
  await page.waitForFunction(() => document.getElementById('action-result').textContent.startsWith('Disconnected 1'));
  const closed = await waitFor(() => users.evaluate(() => window.sockets.victor.state === 'closed' && window.sockets.victor),
    { what: "victor's socket to close" });
  assert.equal(closed.code, 4000);
  assert.equal((await users.evaluate(() => window.sockets.ada.state)), 'open', 'the others stay connected');

  // Presence of a channel, on demand.
  await page.fill('#presence-channel', 'chat:lobby');
  await page.click('#presence-form button');
  await page.waitForFunction(() => document.getElementById('presence-result').textContent.startsWith('2 subscribed'));
  await page.waitForSelector('#channels tbody tr', { timeout: 5000 });
  assert.equal(await page.$eval('#channels tbody tr td', (td) => td.textContent), 'chat:lobby');
  await page.waitForFunction(() => document.getElementById('total-connections').textContent === '3', null, { timeout: 5000 });

  await page.waitForFunction(() => Number(document.getElementById('total-messages').textContent) > 0, null, { timeout: 10000 });
  await page.screenshot({ path: join(images, 'console-overview.png'), fullPage: true });

  // The disconnect is itself an audit event.
  await page.click('button[data-tab="security"]');
  await page.waitForSelector('#events tbody tr[data-reason="admin_action"]', { timeout: 5000 });
  const audit = await page.$$eval('#events tbody tr[data-reason="admin_action"]', (trs) => trs.map((tr) => tr.cells[8].textContent));
  assert.ok(audit.some((d) => d.startsWith('user victor')), `audit rows: ${audit}`);
  await page.screenshot({ path: join(images, 'console-security.png'), fullPage: true });

  // Logging out ends the session: the page shows the login again.
  await page.click('#logout');
  await page.waitForSelector('#login:not([hidden])');
  assert.deepEqual(errors, []);
}));

// Two nodes on one Redis: the console of either shows both, and an event
// of the other node.
test('the console shows every node of a cluster', withPages('console cluster', async (t, track) => {
  const redis = await startRedis();
  const env = { RAMPART_API_KEYS: KEY, RAMPART_BROKER_TYPE: 'redis', RAMPART_BROKER_REDIS_ADDRS: `[${redis.addr}]` };
  const a = await startConfigServer(config(), { env });
  const b = await startConfigServer(config(), { env });
  try {
    const page = track(await browser.context.newPage(), 'cluster');
    await login(page, adminURL(a));
    await page.waitForFunction(() => document.getElementById('total-nodes').textContent === '2', null, { timeout: 10000 });
    assert.equal(await page.$$eval('#nodes tbody tr', (trs) => trs.length), 2);
    // A refusal on node b shows in node a's console, under b's name.
    const res = await new Promise((ok, fail) => {
      const req = request(b.wsURL.replace('ws:', 'http:'), { headers: { Upgrade: 'websocket', Connection: 'Upgrade',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Protocol': 'rampart.v1', Origin: evil.base } });
      req.on('response', (r) => { r.resume(); ok(r); });
      req.on('error', fail);
      req.end();
    });
    assert.equal(res.statusCode, 403);
    const rid = res.headers['x-request-id'];
    await page.click('button[data-tab="security"]');
    const node = await page.waitForFunction((id) => {
      const tr = [...document.querySelectorAll('#events tbody tr')].find((r) => r.cells[4].textContent === id);
      return tr && tr.cells[1].textContent;
    }, rid, { timeout: 5000 });
    assert.equal(await node.jsonValue(), rid.split('-')[0], "the event carries node b's name");
    assert.notEqual(await node.jsonValue(), await page.$eval('#who', (e) => e.textContent.split(' ').at(-1)));
  } finally {
    await a.stop();
    await b.stop();
    await redis.stop();
  }
}));
