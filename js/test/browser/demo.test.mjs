// The demo page's own status lines: in-band token renewal with short
// tokens (no reconnect), "server" as the sender of what the HTTP API
// publishes, error lines cleared by a reconnection, and a page that asks
// for nothing the server does not have (no 404, the favicon included).

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../helpers/server.mjs';
import { launch, withPages, openChat, say, texts, waitForTexts } from './helpers.mjs';

const apiKey = 'demo-test-api-key-0123456789abcdef';

/** Records what page asked for and was refused, and what its console said. */
function watch(page) {
  const seen = { failed: [], console: [] };
  page.on('response', (r) => { if (r.status() >= 400) seen.failed.push(`${r.status()} ${r.url()}`); });
  page.on('requestfailed', (r) => {
    // A WebSocket the page closes on purpose is not a failure of the page.
    if (!r.url().startsWith('ws')) seen.failed.push(`failed ${r.url()}`);
  });
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') seen.console.push(m.text()); });
  return seen;
}

/** Opens the chat with watch() attached before the page loads. */
async function openWatched(context, base, user, opts = {}) {
  let seen;
  const page = await openChat(context, base, user, { ...opts, setup: (p) => { seen = watch(p); } });
  page.seen = seen;
  return page;
}

describe('demo page status', () => {
  let srv, browser;
  before(async () => {
    srv = await startServer({ env: { RAMPART_API_KEYS: apiKey } });
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  test('short tokens renew on the open connection, shown on the page', withPages('token renewed in band', async (t, track) => {
    const a = track(await openWatched(browser.context, srv.base, 'rene', { ttl: 4 }), 'rene');
    const b = track(await openWatched(browser.context, srv.base, 'rita', { ttl: 4 }), 'rita');
    try {
      const sent = [];
      // Chat until both pages renewed their token at least twice, and on
      // past the first token's expiry (plus the server's leeway).
      const start = Date.now();
      for (let i = 0; ; i++) {
        const [from, name] = i % 2 ? [b, 'rita'] : [a, 'rene'];
        const text = `renew ${i} from ${name}`;
        await say(from, text);
        sent.push(text);
        const renewals = await Promise.all([a, b].map((p) => p.evaluate(() => Number(document.body.dataset.renewals ?? 0))));
        if (renewals.every((n) => n >= 2) && Date.now() - start > 9000) break;
        assert.ok(Date.now() - start < 30000, `renewals after 30s: ${renewals}`);
        await new Promise((r) => setTimeout(r, 1000)); // well within messages_per_minute, with the renewals
      }
      await waitForTexts(a, sent);
      await waitForTexts(b, sent);
      for (const p of [a, b]) {
        assert.deepEqual((await texts(p)).filter((x) => x.startsWith('renew ')), sent, 'every message once, in order');
        assert.equal(await p.evaluate(() => document.body.dataset.connects), '1', 'the page never reconnected');
        assert.equal(await p.textContent('#state'), 'connected');
        assert.match(await p.textContent('#token'), /^Tokens live 4s here\. Token renewed on the open connection \(\d+ so far, no reconnect\)/);
        assert.equal(await p.textContent('#errors'), '');
      }
    } finally {
      await a.close(); await b.close();
    }
  }));

  test('what the HTTP API publishes shows "server" as its sender', withPages('server sender', async (t, track) => {
    const a = track(await openWatched(browser.context, srv.base, 'sam'), 'sam');
    try {
      const res = await fetch(`${srv.base}/api/publish`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ channel: 'chat:lobby', data: { text: 'announcement from the backend' } }),
      });
      assert.equal(res.status, 200, await res.text());
      await say(a, 'and one from sam');
      await waitForTexts(a, ['announcement from the backend', 'and one from sam']);
      const rows = await a.$$eval('#messages li', (els) => els.map((e) => [e.querySelector('.user').textContent, e.querySelector('.text').textContent]));
      const byText = Object.fromEntries(rows.map(([u, x]) => [x, u]));
      assert.equal(byText['announcement from the backend'], 'server');
      assert.equal(byText['and one from sam'], 'sam');
      assert.ok(!rows.some(([u]) => u === '?'), `a sender shown as ?: ${JSON.stringify(rows)}`);
    } finally {
      await a.close();
    }
  }));

  test('error lines from before a reconnection are cleared by it', withPages('stale errors cleared', async (t, track) => {
    const a = track(await openWatched(browser.context, srv.base, 'erin'), 'erin');
    try {
      // A message larger than max_message_bytes is refused and leaves an error line.
      await a.fill('#text', 'x'.repeat(20000));
      await a.press('#text', 'Enter');
      await a.waitForSelector('#errors li', { timeout: 10000 });
      const before = await a.textContent('#errors');
      assert.notEqual(before, '');
      // The server drops every connection of erin; the page reconnects.
      const res = await fetch(`${srv.base}/api/disconnect`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ user: 'erin', code: 4000, reason: 'test' }),
      });
      assert.equal(res.status, 200, await res.text());
      await a.waitForFunction(() => document.body.dataset.connects === '2', null, { timeout: 15000, polling: 50 });
      assert.equal(await a.textContent('#errors'), '', 'stale error lines are gone');
      assert.equal(await a.textContent('#state'), 'connected');
    } finally {
      await a.close();
    }
  }));

  test('the page loads with no 404 and nothing in the console', withPages('no 404', async (t, track) => {
    const a = track(await openWatched(browser.context, srv.base, 'nora'), 'nora');
    try {
      await say(a, 'hello');
      await waitForTexts(a, ['hello']);
      // The icon the page links to is served, as an SVG the CSP allows.
      const icon = await a.evaluate(async () => {
        const link = document.querySelector('link[rel="icon"]');
        const r = await fetch(link.href);
        return { href: link.getAttribute('href'), status: r.status, type: r.headers.get('content-type') };
      });
      assert.deepEqual(icon, { href: '/static/favicon.svg', status: 200, type: 'image/svg+xml' });
      assert.deepEqual(a.seen.failed, [], 'requests the server refused');
      assert.deepEqual(a.seen.console, [], 'console errors and warnings');
      assert.deepEqual(a.consoleErrors, []);
    } finally {
      await a.close();
    }
  }));
});
