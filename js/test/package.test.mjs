// The package installs the way js/README.md says: `npm pack` makes a
// tarball that a fresh project installs offline, and `npm install` of the
// js/ folder links it; in both, a Node ES module imports '@rampart/client'
// and does a subscribe/publish round trip with a real `rampart serve --dev`,
// and a TypeScript file importing it type-checks against its declarations.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jsRoot, startServer, tempDir } from './helpers/server.mjs';

const run = promisify(execFile);
const tsc = join(jsRoot, 'node_modules', 'typescript', 'bin', 'tsc');

// The environment for a nested npm: without the npm_* variables of the
// `npm test` that runs this file (npm_config_prefix would point the nested
// npm at js/ instead of the project it is run in).
function npmEnv(cache) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  return { ...env, npm_config_cache: cache, npm_config_update_notifier: 'false' };
}

async function npm(args, cwd, cache) {
  return run('npm', args, { cwd, env: npmEnv(cache), timeout: 120_000, maxBuffer: 16 << 20 });
}

// A Node 20 without --experimental-websocket has no global WebSocket.
const nodeFlags = Number(process.versions.node.split('.')[0]) < 22 ? ['--experimental-websocket'] : [];

const roundTrip = `
import { RampartClient, RampartError, ErrorCode } from '@rampart/client';

const [url, token] = process.argv.slice(2);
const client = new RampartClient(url, { getToken: async () => token, reconnect: false });
const welcome = await client.connect();
const channel = 'chat:package-' + Date.now();
const got = new Promise((ok) => client.subscribe(channel, ok));
const { offset } = await client.publish(channel, { text: 'from the package' });
const pub = await got;
client.close();
console.log(JSON.stringify({
  user: welcome.user, offset, data: pub.data, from: pub.info?.user,
  errorClass: typeof RampartError, forbidden: ErrorCode.Forbidden,
}));
`;

const typed = `
import { RampartClient, RampartError, ErrorCode } from '@rampart/client';
import type { ClientOptions, Publication, SubscribeResult, State } from '@rampart/client';

const options: ClientOptions = { getToken: async () => 'token', reconnect: false };
const client = new RampartClient('ws://127.0.0.1:1/ws', options);
const state: State = client.state;
const code: 'forbidden' = ErrorCode.Forbidden;
async function use(): Promise<number> {
  const sub: SubscribeResult = await client.subscribe('chat:a', (p: Publication<{ text: string }>) => p.data.text);
  const { offset } = await client.publish('chat:a', { text: 'hi' });
  // @ts-expect-error publish needs a channel and data: the declarations are real, not any
  await client.publish();
  return sub.offset + offset;
}
const err: unknown = null;
if (err instanceof RampartError) console.log(err.code, err.requestId);
export { state, code, use };
`;

// A fresh project in dir with '@rampart/client' installed from spec.
async function project(dir, spec, cache) {
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  await npm(['install', '--offline', '--no-audit', '--no-fund', spec], dir, cache);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  assert.ok(pkg.dependencies?.['@rampart/client'], 'the install recorded the dependency');
  writeFileSync(join(dir, 'roundtrip.mjs'), roundTrip);
  writeFileSync(join(dir, 'typed.ts'), typed);
  return dir;
}

async function checkRoundTrip(dir, srv) {
  const token = await srv.token('packaged');
  const { stdout } = await run(process.execPath, [...nodeFlags, 'roundtrip.mjs', srv.wsURL, token],
    { cwd: dir, timeout: 30_000 });
  const got = JSON.parse(stdout.trim().split('\n').pop());
  assert.equal(got.user, 'packaged');
  assert.deepEqual(got.data, { text: 'from the package' });
  assert.equal(got.from, 'packaged');
  assert.ok(Number.isInteger(got.offset));
  assert.equal(got.errorClass, 'function');
  assert.equal(got.forbidden, 'forbidden');
}

// Type-checks typed.ts as a Node ES module (nodenext: the exports map's
// types condition) and as a bundler would resolve it.
async function checkTypes(dir) {
  const common = ['--noEmit', '--strict', '--skipLibCheck', 'false', '--lib', 'ES2022,DOM', '--types', '', '--target', 'ES2022'];
  for (const mode of [['--module', 'nodenext', '--moduleResolution', 'nodenext'], ['--module', 'esnext', '--moduleResolution', 'bundler']]) {
    try {
      await run(process.execPath, [tsc, ...common, ...mode, 'typed.ts'], { cwd: dir, timeout: 60_000 });
    } catch (err) {
      assert.fail(`tsc ${mode.join(' ')} typed.ts failed:\n${err.stdout}${err.stderr}`);
    }
  }
}

describe('the npm package', { timeout: 240_000 }, () => {
  let srv, tmp, tarball;
  before(async () => {
    tmp = tempDir('rampart-package-');
    srv = await startServer();
    await npm(['pack', '--pack-destination', tmp.dir], jsRoot, join(tmp.dir, 'cache'));
    const tgz = readdirSync(tmp.dir).filter((f) => f.endsWith('.tgz'));
    assert.equal(tgz.length, 1, `npm pack made one tarball: ${tgz}`);
    tarball = join(tmp.dir, tgz[0]);
  });
  after(async () => {
    await srv?.stop();
    tmp?.cleanup();
  });

  test('the tarball holds the module, its declarations and the README only', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const files = stdout.trim().split('\n').sort();
    assert.deepEqual(files, [
      'package/README.md', 'package/dist/hooks.d.ts', 'package/dist/hooks.js',
      'package/dist/index.d.ts', 'package/dist/index.js',
      'package/dist/types.d.ts', 'package/dist/types.js', 'package/package.json',
    ]);
    const { stdout: manifest } = await run('tar', ['-xzOf', tarball, 'package/package.json']);
    const pkg = JSON.parse(manifest);
    assert.equal(pkg.name, '@rampart/client');
    assert.equal(pkg.type, 'module');
    assert.deepEqual(pkg.exports['.'], { types: './dist/index.d.ts', import: './dist/index.js' });
    assert.deepEqual(pkg.exports['./hooks'], { types: './dist/hooks.d.ts', import: './dist/hooks.js' });
    assert.equal(pkg.dependencies, undefined, 'no dependencies at run time');
    assert.equal(pkg.peerDependencies, undefined, 'no peer dependencies');
    assert.ok(pkg.engines.node && pkg.license && pkg.repository.url && pkg.version);
  });

  test('installed from the packed tarball: a round trip from Node, and typed.ts type-checks', async () => {
    const dir = await project(join(tmp.dir, 'from-tarball'), tarball, join(tmp.dir, 'cache'));
    await checkRoundTrip(dir, srv);
    await checkTypes(dir);
  });

  test('installed from the js/ folder: a round trip from Node, and typed.ts type-checks', async () => {
    const dir = await project(join(tmp.dir, 'from-folder'), jsRoot, join(tmp.dir, 'cache'));
    await checkRoundTrip(dir, srv);
    await checkTypes(dir);
  });
});
