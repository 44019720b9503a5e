// Gaps in live publications, in Chromium: the page's WebSocket reaches the
// real server through Playwright's routing, which loses chosen publication
// frames (as a server node whose broker link dropped them would). The page
// fills a gap from history; a gap history cannot fill is reported.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../helpers/server.mjs';
import { launch, withPages, openChat, say, texts, waitForTexts, lossyWebSocket } from './helpers.mjs';

describe('gaps in live publications', () => {
  let srv, browser;
  before(async () => {
    srv = await startServer();
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  test('the demo page fills a gap from history', withPages('gap filled', async (t, track) => {
    let lossy;
    const setup = async (page) => { lossy = await lossyWebSocket(page); };
    const a = track(await openChat(browser.context, srv.base, 'lossy', { setup }), 'lossy');
    const b = track(await openChat(browser.context, srv.base, 'talker'), 'talker');
    try {
      await say(b, 'gap one');
      await waitForTexts(a, ['gap one']);
      lossy.lose('chat:lobby', 2);
      await say(b, 'gap two');
      await say(b, 'gap three');
      await say(b, 'gap four'); // live: shows the gap
      await waitForTexts(a, ['gap one', 'gap two', 'gap three', 'gap four']);
      assert.deepEqual(await texts(a), await texts(b), 'every message once, in order');
      const body = await a.evaluate(() => ({ ...document.body.dataset }));
      assert.equal(body.recovered, '2', 'two messages recovered from history');
      assert.equal(body.epochs, undefined, 'no recovery_failed');
      assert.equal(await a.textContent('#notice'), '2 missed message(s) recovered.', 'no mention of a reconnection');
      assert.equal(await a.textContent('#errors'), '');
      assert.deepEqual(a.consoleErrors, []);
    } finally {
      await a.close(); await b.close();
    }
  }));

  test('a gap history cannot fill is reported, then delivery goes on', withPages('gap reported', async (t, track) => {
    // user:{sub} keeps no history. The module the demo page serves runs
    // in the page, on its origin.
    const page = track(await browser.context.newPage(), 'page');
    const lossy = await lossyWebSocket(page);
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    try {
      await page.goto(`${srv.base}/`);
      await page.evaluate(async () => {
        const { RampartClient } = await import('/static/rampart.js');
        const getToken = async () => (await (await fetch('/dev/token?user=gapper')).json()).token;
        const t = window.gapTest = { got: [], failed: [], errors: [] };
        t.client = new RampartClient(`ws://${location.host}/ws`, { getToken });
        t.client.on('recovery_failed', (e) => t.failed.push(e));
        t.client.on('error', (e) => t.errors.push(String(e)));
        await t.client.connect();
        await t.client.subscribe('user:gapper', (p) => t.got.push({ offset: p.offset, epoch: p.epoch, data: p.data }));
      });
      const publish = (data) => page.evaluate((d) => window.gapTest.client.publish('user:gapper', d), data);
      const got = (n) => page.waitForFunction((k) => window.gapTest.got.length >= k, n, { polling: 50, timeout: 10000 });
      await publish('one');
      await got(1);
      lossy.lose('user:gapper', 2);
      await publish('two');
      await publish('three');
      await publish('four');
      await got(2);
      await publish('five');
      await got(3);
      const r = await page.evaluate(() => { const t = window.gapTest; t.client.close(); return t; });
      const epoch = r.got[0].epoch;
      assert.deepEqual(r.got.map((p) => [p.offset, p.data]), [[1, 'one'], [4, 'four'], [5, 'five']]);
      assert.deepEqual(r.failed, [{ channel: 'user:gapper', since: { offset: 1, epoch }, offset: 3, epoch }]);
      assert.deepEqual(r.errors, []);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  }));
});
