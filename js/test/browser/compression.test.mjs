// permessage-deflate in a real browser: Chromium offers it on every
// WebSocket, so the demo page's connection is compressed exactly when the
// server's compression.enabled is set; messages flow either way. The
// handshake's answer is read through the DevTools protocol, as the page's
// own code never sees it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../helpers/server.mjs';
import { launch, withPages, openChat, say, waitForTexts } from './helpers.mjs';

/**
 * Opens the demo page as user, recording the request and response headers
 * of its WebSocket handshakes.
 */
async function openRecorded(context, base, user) {
  const handshakes = [];
  const page = await openChat(context, base, user, {
    async setup(p) {
      const cdp = await context.newCDPSession(p);
      await cdp.send('Network.enable');
      cdp.on('Network.webSocketWillSendHandshakeRequest', (e) => handshakes.push({ request: lower(e.request.headers) }));
      cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
        const h = handshakes.findLast((x) => !x.response) ?? {};
        h.response = lower(e.response.headers);
        if (!handshakes.includes(h)) handshakes.push(h);
      });
    },
  });
  return { page, handshakes };
}

function lower(headers) {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

/** Two tabs chat a long (compressible) and a short message. */
async function chat(a, b) {
  const long = `long ${'the quick brown fox jumps over the lazy dog '.repeat(30)}`.trim();
  const short = `short ${Date.now()}`;
  await say(a, long);
  await say(b, short);
  for (const p of [a, b]) await waitForTexts(p, [long, short]);
}

for (const enabled of [true, false]) {
  const name = `compression ${enabled ? 'enabled' : 'disabled'}: ${enabled ? 'negotiated' : 'not negotiated'}, messages flow`;
  test(name, withPages(name, async (t, track) => {
    const env = enabled ? { RAMPART_COMPRESSION_ENABLED: 'true' } : {};
    const srv = await startServer({ env });
    t.after(() => srv.stop());
    const browser = await launch();
    t.after(() => browser.close());
    const a = await openRecorded(browser.context, srv.base, 'ann');
    const b = await openRecorded(browser.context, srv.base, 'bob');
    track(a.page, 'ann'); track(b.page, 'bob');

    for (const { handshakes } of [a, b]) {
      const h = handshakes.find((x) => x.response);
      assert.ok(h, 'the page opened a WebSocket');
      assert.match(h.request['sec-websocket-extensions'] ?? '', /permessage-deflate/, 'Chromium offers permessage-deflate');
      const answer = h.response['sec-websocket-extensions'];
      if (enabled) {
        assert.equal(answer, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
      } else {
        assert.equal(answer, undefined, 'the server accepted no extension');
      }
    }
    await chat(a.page, b.page);
    for (const p of [a.page, b.page]) {
      assert.equal(await p.textContent('#state'), 'connected');
      assert.deepEqual(p.consoleErrors, []);
    }
  }));
}
