// Starts real Rampart servers (and Redis, when asked) for the tests.
// RAMPART_BIN names a built binary; without it the command is built once
// with `go build` from the repository root.

import { spawn, execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const jsRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const repoRoot = resolve(jsRoot, '..');

let builtBin = null;

/** The rampart binary: RAMPART_BIN, or a fresh `go build` of ./cmd/rampart. */
export function rampartBin() {
  if (process.env.RAMPART_BIN) return process.env.RAMPART_BIN;
  if (builtBin) return builtBin;
  if (!existsSync(join(repoRoot, 'cmd', 'rampart'))) {
    throw new Error('cmd/rampart does not exist yet and RAMPART_BIN is not set');
  }
  const dir = mkdtempSync(join(tmpdir(), 'rampart-bin-'));
  builtBin = join(dir, 'rampart');
  execFileSync('go', ['build', '-o', builtBin, './cmd/rampart'], { cwd: repoRoot, stdio: 'inherit' });
  return builtBin;
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** Whether Redis can be started here. */
/** Starts redis-server on a free port without persistence. */
export async function startRedis() {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('redis-server is not installed: scripts/services.sh installs it (scripts/test.sh runs it first)');
  }
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  await waitForLine(proc, /Ready to accept connections/, 10000);
  return {
    addr: `127.0.0.1:${port}`,
    stop: () => stopProc(proc),
  };
}

let stateHome = null;

/**
 * The state directory every dev server of this test process keeps its
 * secret in (so a restarted server keeps its tokens, as it does for a
 * developer), never the developer's own; removed when the process exits.
 */
function devStateHome() {
  if (!stateHome) {
    stateHome = tempDir('rampart-state-');
    process.on('exit', stateHome.cleanup);
  }
  return stateHome.dir;
}

/**
 * Starts `rampart serve --dev` on a free (or given) port and resolves once
 * it printed its address. opts.redis ("host:port") switches the broker to
 * Redis through the environment.
 */
export async function startServer(opts = {}) {
  const port = opts.port ?? await freePort();
  const env = { ...process.env, XDG_STATE_HOME: devStateHome(), ...opts.env };
  if (opts.redis) {
    env.RAMPART_BROKER_TYPE = 'redis';
    env.RAMPART_BROKER_REDIS_ADDRS = `[${opts.redis}]`;
  }
  const args = ['serve', '--dev', '--listen', `127.0.0.1:${port}`, ...(opts.args ?? [])];
  const proc = spawn(rampartBin(), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  proc.stdout.on('data', (d) => { out.stdout += d; });
  proc.stderr.on('data', (d) => { out.stderr += d; });
  try {
    await waitForLine(proc, /rampart: dev server on (http:\/\/\S+)/, 20000);
  } catch (err) {
    proc.kill('SIGKILL');
    throw new Error(`${err.message}\nstdout:\n${out.stdout}\nstderr:\n${out.stderr}`);
  }
  const base = `http://127.0.0.1:${port}`;
  const tokenLine = /^token: (\S+)$/m.exec(out.stdout);
  return {
    port, base, proc, out,
    wsURL: `ws://127.0.0.1:${port}/ws`,
    printedToken: tokenLine ? tokenLine[1] : null,
    /** Fetches a dev token for user, valid ttl seconds. */
    async token(user, ttl = 3600) {
      const res = await fetch(`${base}/dev/token?user=${encodeURIComponent(user)}&ttl=${ttl}`);
      if (!res.ok) throw new Error(`GET /dev/token: ${res.status}`);
      const body = await res.json();
      return body.token;
    },
    /** Kills the process at once (SIGKILL): no goodbye to the clients. */
    kill: () => stopProc(proc, 'SIGKILL'),
    /** Stops the process gracefully (SIGTERM). */
    stop: () => stopProc(proc, 'SIGTERM'),
  };
}

/**
 * Starts `rampart serve --config` on a file holding yaml (which should
 * listen on 127.0.0.1:0 and log JSON) and resolves once it is listening.
 * Tokens are minted here, with any roles, from the secret the server is
 * given. reload(yaml) rewrites the file and sends SIGHUP.
 */
export async function startConfigServer(yaml, opts = {}) {
  const tmp = tempDir('rampart-config-');
  const path = join(tmp.dir, 'rampart.yaml');
  writeFileSync(path, yaml);
  const secret = randomBytes(32).toString('hex');
  const env = { ...process.env, RAMPART_JWT_SECRET: secret, ...opts.env };
  const proc = spawn(rampartBin(), ['serve', '--config', path], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  proc.stdout.on('data', (d) => { out.stdout += d; });
  proc.stderr.on('data', (d) => { out.stderr += d; });
  let m;
  try {
    m = await waitForLine(proc, /"event":"server_started","addr":"([^"]+)"/, 20000);
  } catch (err) {
    proc.kill('SIGKILL');
    tmp.cleanup();
    throw new Error(`${err.message}\nstdout:\n${out.stdout}\nstderr:\n${out.stderr}`);
  }
  const addr = m[1];
  return {
    base: `http://${addr}`,
    wsURL: `ws://${addr}/ws`,
    proc, out,
    /** Mints an HS256 token for user with roles, valid ttl seconds. */
    token: (user, ttl = 3600, roles = ['user']) => mintToken(secret, { sub: user, roles, exp: Math.floor(Date.now() / 1000) + ttl }),
    /** Writes yaml as the configuration and sends SIGHUP; resolves once applied. */
    async reload(body) {
      writeFileSync(path, body);
      const applied = waitForLine(proc, /"event":"config_file_reloaded"/, 10000);
      proc.kill('SIGHUP');
      await applied;
    },
    async stop() {
      await stopProc(proc, 'SIGTERM');
      tmp.cleanup();
    },
  };
}

/** An HS256 JWT of claims signed with secret. */
export function mintToken(secret, claims) {
  const part = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ iat: Math.floor(Date.now() / 1000), ...claims })}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

function waitForLine(proc, re, timeoutMs) {
  return new Promise((ok, fail) => {
    let seen = '';
    const timer = setTimeout(() => done(new Error(`no line matching ${re} within ${timeoutMs}ms`)), timeoutMs);
    const onData = (d) => {
      seen += d;
      const m = re.exec(seen);
      if (m) done(null, m);
    };
    const onExit = (code) => done(new Error(`process exited with ${code} before printing ${re}`));
    function done(err, m) {
      clearTimeout(timer);
      proc.stdout.off('data', onData);
      proc.stderr.off('data', onData);
      proc.off('exit', onExit);
      if (err) fail(err); else ok(m);
    }
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', onExit);
  });
}

function stopProc(proc, signal = 'SIGTERM') {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((ok) => {
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
    proc.once('exit', () => { clearTimeout(t); ok(); });
    proc.kill(signal);
  });
}

/** A temporary directory removed by the returned cleanup. */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Polls cond until it returns a truthy value or the deadline passes. */
export async function waitFor(cond, { timeout = 10000, interval = 25, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}
