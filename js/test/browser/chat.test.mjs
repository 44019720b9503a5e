// The demo page in Chromium: two tabs chat, markup stays text, the CSP holds,
// and a page from another origin cannot open a connection.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RampartClient } from '../../dist/index.js';
import { startServer, waitFor } from '../helpers/server.mjs';
import { launch, withPages, openChat, say, texts, waitForTexts, foreignServer } from './helpers.mjs';

describe('demo page', () => {
  let srv, browser;
  before(async () => {
    srv = await startServer();
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  test('two pages chat', withPages('two pages chat', async (t, track) => {
    const a = track(await openChat(browser.context, srv.base, 'alice'), 'alice');
    const b = track(await openChat(browser.context, srv.base, 'bob'), 'bob');
    try {
      await say(a, 'hello from alice');
      await waitForTexts(b, ['hello from alice']);
      await say(b, 'hi alice, bob here');
      await waitForTexts(a, ['hello from alice', 'hi alice, bob here']);
      assert.deepEqual(await texts(a), await texts(b));
      const users = await b.$$eval('#messages li .user', (els) => els.map((e) => e.textContent));
      assert.deepEqual(users.slice(-2), ['alice', 'bob']);
      assert.equal(await a.textContent('#state'), 'connected');
      assert.equal(await b.textContent('#errors'), '');
      assert.deepEqual([...a.consoleErrors, ...b.consoleErrors], []);
    } finally {
      await a.close(); await b.close();
    }
  }));

  test('markup in a message is shown as text and runs nothing', withPages('markup as text', async (t, track) => {
    const a = track(await openChat(browser.context, srv.base, 'mallory'), 'mallory');
    const b = track(await openChat(browser.context, srv.base, 'victim'), 'victim');
    const evil = [
      '<img src=x onerror=alert(1)>',
      '<script>alert(2)</script>',
      '"><svg onload=alert(3)><b>bold</b>',
    ];
    try {
      const before = (await texts(b)).length;
      for (const m of evil) await say(a, m);
      await b.waitForFunction((n) => document.querySelectorAll('#messages li').length >= n, before + evil.length, { polling: 50 });
      await new Promise((r) => setTimeout(r, 500)); // time for an image error handler to fire
      assert.deepEqual(b.dialogs, []);
      assert.deepEqual(a.dialogs, []);
      for (const p of [a, b]) {
        assert.equal(await p.$$eval('#messages img, #messages script, #messages svg, #messages b', (els) => els.length), 0);
      }
      // What the page shows is exactly the text the server delivered.
      const obs = new RampartClient(srv.wsURL, { getToken: () => srv.token('observer') });
      await obs.connect();
      const h = await obs.history('chat:lobby', { limit: 100 });
      obs.close();
      const delivered = h.publications.slice(-evil.length).map((p) => p.data.text);
      assert.deepEqual((await texts(b)).slice(-evil.length), delivered);
      assert.ok(delivered.every((s) => s.includes('alert(')), 'the text reaches the page');
    } finally {
      await a.close(); await b.close();
    }
  }));

  test('the CSP header is present and an injected inline script does not run', withPages('csp', async (t, track) => {
    const page = track(await browser.context.newPage(), 'page');
    try {
      const res = await page.goto(`${srv.base}/`);
      const csp = res.headers()['content-security-policy'] ?? '';
      assert.match(csp, /default-src 'self'/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.match(csp, /base-uri 'none'/);
      assert.ok(csp.includes(`ws://127.0.0.1:${srv.port}`), csp);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      for (const path of ['/static/app.js', '/static/rampart.js', '/static/style.css']) {
        const r = await page.request.get(srv.base + path);
        assert.equal(r.status(), 200, path);
        assert.equal(r.headers()['x-content-type-options'], 'nosniff', path);
      }
      const violations = await page.evaluate(async () => {
        const seen = [];
        document.addEventListener('securitypolicyviolation', (e) => seen.push(e.effectiveDirective));
        const s = document.createElement('script');
        s.textContent = 'window.__inlineRan = true;';
        document.head.append(s);
        const img = document.createElement('div');
        img.setAttribute('onclick', 'window.__handlerRan = true');
        document.body.append(img);
        img.click();
        await new Promise((r) => setTimeout(r, 200));
        return seen;
      });
      assert.equal(await page.evaluate(() => window.__inlineRan), undefined);
      assert.equal(await page.evaluate(() => window.__handlerRan), undefined);
      assert.ok(violations.some((d) => d.startsWith('script-src')), `violations: ${violations}`);
    } finally {
      await page.close();
    }
  }));

  test('a page from another origin cannot connect, even with the user\'s cookie', withPages('foreign origin', async (t, track) => {
    const token = await srv.token('alice');
    // The user's session cookie for the server's host (cookies ignore ports).
    await browser.context.addCookies([{ name: 'session', value: token, url: srv.base }]);
    const foreign = await foreignServer(`<!doctype html><title>evil</title><script>
      window.__result = new Promise((resolve) => {
        const ws = new WebSocket(${JSON.stringify(srv.wsURL)}, ['rampart.v1']);
        ws.onopen = () => resolve('open');
        ws.onmessage = (e) => resolve('message: ' + e.data);
        ws.onclose = (e) => resolve('closed ' + e.code);
      });
    </script>`);
    const page = track(await browser.context.newPage(), 'foreign');
    try {
      await page.goto(`${foreign.base}/`);
      const result = await page.evaluate(() => window.__result);
      assert.equal(result, 'closed 1006');
      const log = () => srv.out.stdout + srv.out.stderr;
      await waitFor(() => log().split('\n').some((l) => l.includes('handshake_rejected') && l.includes('403') && l.includes(foreign.base)),
        { timeout: 5000, what: 'a 403 handshake rejection for the foreign origin in the server log' });
      // The same socket from the demo's own origin opens (so the origin made the difference).
      const own = track(await browser.context.newPage(), 'own');
      await own.goto(`${srv.base}/`);
      const ownResult = await own.evaluate(async ({ url, token }) => new Promise((resolve) => {
        const ws = new WebSocket(url, ['rampart.v1', 'rampart.bearer.' + token]);
        ws.onopen = () => { resolve('open ' + ws.protocol); ws.close(1000); };
        ws.onclose = (e) => resolve('closed ' + e.code);
      }), { url: srv.wsURL, token });
      assert.equal(ownResult, 'open rampart.v1');
      await own.close();
    } finally {
      await page.close();
      await foreign.close();
      await browser.context.clearCookies();
    }
  }));
});
