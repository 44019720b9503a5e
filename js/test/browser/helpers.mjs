// Browser test helpers: Debian's Chromium driven by playwright-core (never a
// downloaded browser), a fresh profile per launch, screenshots on failure.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { jsRoot } from '../helpers/server.mjs';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const resultsDir = join(jsRoot, 'test-results');

/** Launches Chromium with a fresh user-data-dir; close() removes it. */
export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'rampart-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Wraps a test body: pages it opens through `open` are screenshotted into
 * js/test-results/ when the body throws.
 */
export function withPages(name, body) {
  return async (t) => {
    const pages = [];
    const track = (page, label) => { pages.push({ page, label }); return page; };
    try {
      await body(t, track);
    } catch (err) {
      mkdirSync(resultsDir, { recursive: true });
      const slug = name.replace(/[^A-Za-z0-9]+/g, '-').toLowerCase();
      for (const { page, label } of pages) {
        if (page.isClosed()) continue;
        await page.screenshot({ path: join(resultsDir, `${slug}-${label}.png`), fullPage: true }).catch(() => {});
      }
      throw err;
    }
  };
}

/**
 * Opens the demo page as user and waits until it is subscribed. setup, when
 * given, runs on the new page before it loads (to route its WebSocket, say).
 */
export async function openChat(context, base, user, { ttl, setup } = {}) {
  const page = await context.newPage();
  await setup?.(page);
  page.dialogs = [];
  page.on('dialog', (d) => { page.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.consoleErrors = [];
  page.on('pageerror', (e) => page.consoleErrors.push(String(e)));
  const q = new URLSearchParams({ user });
  if (ttl) q.set('ttl', String(ttl));
  await page.goto(`${base}/?${q}`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 15000 });
  return page;
}

/** Sends a chat message from page through the form. */
export async function say(page, text) {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
  await page.waitForFunction(() => document.getElementById('text').value === '', null, { timeout: 10000, polling: 50 });
}

/** The texts of the messages page shows, in order. */
export function texts(page) {
  return page.$$eval('#messages li .text', (els) => els.map((e) => e.textContent));
}

/** Waits until page shows every one of wanted (as message texts). */
export async function waitForTexts(page, wanted, timeout = 15000) {
  await page.waitForFunction((w) => {
    const have = [...document.querySelectorAll('#messages li .text')].map((e) => e.textContent);
    return w.every((x) => have.includes(x));
  }, wanted, { timeout, polling: 50 });
}

/** A plain HTTP server on 127.0.0.1 (another origin) serving one page. */
export function foreignServer(html) {
  return new Promise((ok) => {
    const srv = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(html);
    });
    srv.listen(0, '127.0.0.1', () => ok({
      base: `http://127.0.0.1:${srv.address().port}`,
      close: () => new Promise((r) => { srv.close(r); srv.closeAllConnections(); }),
    }));
  });
}

/**
 * Routes page's WebSocket to the real server through Playwright, with one
 * fault the test switches on: lose(channel, n) makes the next n publication
 * frames of channel vanish before the page reads them, as when the server
 * node's broker link dropped them (the channel's history keeps them).
 */
export async function lossyWebSocket(page) {
  const lose = new Map();
  await page.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => server.send(m));
    server.onMessage((m) => {
      const msg = JSON.parse(String(m));
      const n = msg.push === 'publication' ? lose.get(msg.channel) ?? 0 : 0;
      if (n > 0) { lose.set(msg.channel, n - 1); return; }
      ws.send(m);
    });
  });
  return { lose: (channel, n) => lose.set(channel, (lose.get(channel) ?? 0) + n) };
}
