// The backend's side of Rampart's hooks: verifyHookRequest checks the
// golden request the Go helper checks too, and a real request a running
// server sends to a Node backend; it refuses a tampered body, an old
// timestamp and a wrong key.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RampartClient } from '../dist/index.js';
import { verifyHookRequest, HookSignatureError, SIGNATURE_HEADER } from '../dist/hooks.js';
import { repoRoot, startConfigServer, waitFor } from './helpers/server.mjs';

const golden = JSON.parse(readFileSync(join(repoRoot, 'hooks', 'testdata', 'signed.json'), 'utf8'));

async function refused(promise, reason) {
  await assert.rejects(promise, (err) => err instanceof HookSignatureError && err.reason === reason);
}

describe('verifyHookRequest on the golden request', () => {
  test('accepts it at its time, from a string or bytes', async () => {
    await verifyHookRequest(golden.header, golden.body, golden.key, { now: golden.time });
    await verifyHookRequest(golden.header, new TextEncoder().encode(golden.body), new TextEncoder().encode(golden.key), { now: golden.time + 299 });
  });
  test('refuses a tampered body, an old timestamp, a wrong key, no header', async () => {
    await refused(verifyHookRequest(golden.header, golden.body.replace('alice', 'admin'), golden.key, { now: golden.time }), 'bad_signature');
    await refused(verifyHookRequest(golden.header, golden.body, golden.key, { now: golden.time + 301 }), 'expired');
    await refused(verifyHookRequest(golden.header, golden.body, golden.key, { now: golden.time - 301 }), 'expired');
    await refused(verifyHookRequest(golden.header, golden.body, golden.key + 'x', { now: golden.time }), 'bad_signature');
    // Only the form the server writes: the same signature in capitals is refused.
    await refused(verifyHookRequest(golden.header.replace(/v1=([0-9a-f]+)/, (_, h) => 'v1=' + h.toUpperCase()), golden.body, golden.key, { now: golden.time }), 'bad_signature');
    await refused(verifyHookRequest(undefined, golden.body, golden.key, { now: golden.time }), 'no_signature');
    await refused(verifyHookRequest('t=abc,v1=00', golden.body, golden.key, { now: golden.time }), 'no_signature');
  });
});

describe('a real hook request from a running server', () => {
  const key = 'node-backend-hooks-key-0123456789abcdef';
  const seen = [];
  let backend, srv;
  before(async () => {
    backend = createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', async () => {
        const body = Buffer.concat(chunks);
        const entry = { hook: req.headers['rampart-hook'], header: req.headers[SIGNATURE_HEADER], body };
        seen.push(entry);
        try {
          await verifyHookRequest(entry.header, body, key);
          entry.verified = true;
        } catch (err) {
          entry.verified = false;
          res.writeHead(401).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"allow","roles":["editor"]}');
      });
    });
    await new Promise((ok) => backend.listen(0, '127.0.0.1', ok));
    const url = `http://127.0.0.1:${backend.address().port}/connect`;
    srv = await startConfigServer(`listen: "127.0.0.1:0"
origins: { allow_missing: true }
log: { format: json, level: info }
limits: { shutdown_spread: 10ms }
hooks:
  connect: { url: "${url}" }
channels:
  - pattern: "doc:*"
    subscribe: [editor]
    publish: [editor]
`, { env: { RAMPART_HOOKS_KEY: key } });
  });
  after(async () => {
    await srv?.stop();
    await new Promise((ok) => backend?.close(ok));
  });

  test('verifies, and the role it adds opens the channel', async (t) => {
    const c = new RampartClient(srv.wsURL, { getToken: async () => srv.token('nina', 3600, ['user']) });
    t.after(() => c.close());
    await c.connect();
    await c.subscribe('doc:1', () => {});
    await waitFor(() => seen.length >= 1, { what: 'the connect hook request' });
    const req = seen[0];
    assert.equal(req.hook, 'connect');
    assert.equal(req.verified, true);
    assert.equal(JSON.parse(req.body).user, 'nina');
    await refused(verifyHookRequest(req.header, Buffer.concat([req.body, Buffer.from(' ')]), key), 'bad_signature');
    await refused(verifyHookRequest(req.header, req.body, key, { now: Math.floor(Date.now() / 1000) + 600 }), 'expired');
    await refused(verifyHookRequest(req.header, req.body, key.replace('0', '1')), 'bad_signature');
  });
});
