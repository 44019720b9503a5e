// Tokens that live 3 seconds: the page renews them through getToken while
// two tabs keep chatting, and no message is lost or shown twice.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../helpers/server.mjs';
import { launch, withPages, openChat, say, texts, waitForTexts } from './helpers.mjs';

let srv, browser;
before(async () => {
  srv = await startServer();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await srv?.stop();
});

test('expired tokens are renewed without losing messages', withPages('token renewal', async (t, track) => {
  const tokenRequests = { a: 0, b: 0 };
  const a = track(await openChat(browser.context, srv.base, 'tina', { ttl: 3 }), 'tina');
  const b = track(await openChat(browser.context, srv.base, 'tom', { ttl: 3 }), 'tom');
  a.on('request', (r) => { if (r.url().includes('/dev/token')) tokenRequests.a++; });
  b.on('request', (r) => { if (r.url().includes('/dev/token')) tokenRequests.b++; });
  try {
    const sent = [];
    const start = Date.now();
    for (let i = 0; Date.now() - start < 9000; i++) {
      const [from, name] = i % 2 ? [b, 'tom'] : [a, 'tina'];
      const text = `msg ${i} from ${name}`;
      await say(from, text);
      sent.push(text);
      // A pace that leaves room in the dev server's 50 commands a minute
      // (burst 10) for the renewals too: a 3-second token is renewed every
      // 1.5 s, and each renewal is a command.
      await new Promise((r) => setTimeout(r, 1000));
    }
    await waitForTexts(a, sent);
    await waitForTexts(b, sent);
    for (const p of [a, b]) {
      const shown = (await texts(p)).filter((x) => x.startsWith('msg '));
      assert.deepEqual(shown, sent, 'every message once, in order');
      assert.equal(await p.textContent('#state'), 'connected');
    }
    // Both tabs outlived their first token (3s) by far and renewed it.
    assert.ok(tokenRequests.a >= 2, `tab a fetched ${tokenRequests.a} tokens`);
    assert.ok(tokenRequests.b >= 2, `tab b fetched ${tokenRequests.b} tokens`);
    assert.equal(await a.$$eval('#errors li[data-code]', (els) => els.map((e) => e.textContent).join('\n')), '');
  } finally {
    await a.close(); await b.close();
  }
}));
