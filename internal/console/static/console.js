// The Rampart admin console. It logs in with an API key or an admin token
// (the session lives in an HttpOnly cookie; this script only holds the
// session's CSRF token), then follows every node through the reserved
// console channels over Rampart's own client. Everything that arrives is
// shown with textContent: nothing from the network is parsed as HTML.
import { RampartClient } from './rampart.js';

const STATS = 'rampart.console:stats';
const EVENTS = 'rampart.console:events';
const HISTORY = 300;      // samples kept per node: five minutes at one a second
const MAX_EVENTS = 1000;  // events kept on the page
const REASONS = ['origin', 'token', 'csrf', 'limits', 'protocol', 'unavailable', 'rate_limit', 'violations',
  'token_expired', 'slow_consumer', 'panic', 'hook_denied', 'api_key', 'console_login', 'admin_action'];
const SVG = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);
let session = null;
let client = null;
const nodes = new Map();   // node -> { samples: [{t, totals, counts, connections}], last }
let events = [];           // newest first
const seen = new Set();

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells, cls) {
  const tr = el('tr', undefined, cls);
  for (const c of cells) tr.append(typeof c === 'object' && c !== null ? c : el('td', c));
  return tr;
}

async function api(method, path, body) {
  const opts = { method, credentials: 'same-origin', cache: 'no-store', headers: {} };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  if (method !== 'GET' && session) opts.headers['X-Rampart-CSRF'] = session.csrf;
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(`${data.error ?? 'error'} (${res.status}, request ${data.request_id ?? '?'})`);
    err.status = res.status;
    throw err;
  }
  return data;
}

// ---- views ----

function show(view) {
  for (const id of ['login', 'overview', 'security']) $(id).hidden = id !== view;
  for (const b of document.querySelectorAll('.tab')) b.setAttribute('aria-selected', String(b.dataset.tab === view));
  document.body.dataset.view = view;
}

function route() {
  if (!session) return show('login');
  show(location.hash === '#security' ? 'security' : 'overview');
}

// ---- login ----

async function login(ev) {
  ev.preventDefault();
  const secret = $('secret').value.trim();
  const body = secret.split('.').length === 3 ? { token: secret } : { key: secret };
  $('login-error').textContent = '';
  try {
    session = await api('POST', '/console/api/login', body);
    $('secret').value = '';
    await start();
  } catch (err) {
    $('login-error').textContent = err.status === 429 ? 'Too many attempts: wait a minute.' : 'Login refused: ' + err.message;
  }
}

async function logout() {
  try { await api('POST', '/console/api/logout'); } catch { /* the session may be gone already */ }
  stop();
}

function stop() {
  client?.close();
  client = null;
  session = null;
  $('tabs').hidden = $('logout').hidden = true;
  $('who').textContent = '';
  document.body.dataset.state = 'logged-out';
  route();
}

// ---- live data ----

async function start() {
  $('who').textContent = `${session.admin} on node ${session.node}`;
  $('tabs').hidden = $('logout').hidden = false;
  route();
  const local = await api('GET', '/console/api/events');
  addEvents(local.events.slice().reverse());
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/console/ws';
  client = new RampartClient(url, { tokenTransport: 'cookie', csrfToken: session.csrf });
  client.on('state', ({ state }) => {
    document.body.dataset.state = state;
    $('live').textContent = state === 'connected' ? 'live' : state;
  });
  // A session that ended (expired: 4001, or logged out elsewhere) shows
  // the login again instead of reconnecting for ever.
  client.on('disconnected', ({ code }) => {
    if (code === 4001) { stop(); return; }
    api('GET', '/console/api/session').catch((err) => { if (err.status === 401) stop(); });
  });
  await client.connect();
  await client.subscribe(STATS, (p) => onStats(p.data));
  await client.subscribe(EVENTS, (p) => addEvents(p.data.events ?? []));
  document.body.dataset.subscribed = 'true';
}

function onStats(s) {
  let n = nodes.get(s.node);
  if (!n) nodes.set(s.node, (n = { samples: [] }));
  n.prev = n.last;
  n.last = s;
  n.samples.push({ t: Date.parse(s.time), totals: s.totals, counts: s.counts ?? {}, connections: s.connections });
  if (n.samples.length > HISTORY) n.samples.shift();
  renderOverview();
  renderCounts();
}

function rate(samples, pick) {
  const out = [];
  for (let i = 1; i < samples.length; i++) {
    const dt = (samples[i].t - samples[i - 1].t) / 1000;
    out.push({ t: samples[i].t, v: dt > 0 ? Math.max(0, (pick(samples[i]) - pick(samples[i - 1])) / dt) : 0 });
  }
  return out;
}

function lastRate(samples, pick) {
  const r = rate(samples.slice(-2), pick);
  return r.length ? r[0].v : 0;
}

const fmt = (v) => (v >= 100 ? Math.round(v) : Math.round(v * 10) / 10).toLocaleString('en');

function renderOverview() {
  const body = $('nodes').tBodies[0];
  const chans = [];
  let conns = 0, hs = 0, msgs = 0, dels = 0;
  body.replaceChildren();
  for (const [name, n] of [...nodes].sort()) {
    const s = n.last;
    const r = ['handshakes', 'messages', 'deliveries'].map((k) => lastRate(n.samples, (x) => x.totals[k]));
    conns += s.connections; hs += r[0]; msgs += r[1]; dels += r[2];
    body.append(row([el('td', name, 'mono'), s.connections, fmt(r[0]), fmt(r[1]), fmt(r[2]), s.sessions, s.draining ? 'draining' : 'serving']));
    for (const c of s.channels ?? []) chans.push({ ...c, node: name, rate: channelRate(n, c.channel) });
  }
  $('total-connections').textContent = conns.toLocaleString('en');
  $('total-nodes').textContent = nodes.size;
  $('total-handshakes').textContent = fmt(hs);
  $('total-messages').textContent = fmt(msgs);
  $('total-deliveries').textContent = fmt(dels);
  chans.sort((a, b) => b.subscribers - a.subscribers || b.rate - a.rate);
  $('channels').tBodies[0].replaceChildren(...chans.slice(0, 10).map((c) =>
    row([el('td', c.channel, 'mono'), el('td', c.node, 'mono'), c.subscribers, fmt(c.rate)])));
  for (const k of ['handshakes', 'messages', 'deliveries']) {
    chart($('chart-' + k), [...nodes.values()].map((n, i) => ({ cls: 'r' + (i % 14), points: rate(n.samples, (x) => x.totals[k]) })));
  }
}

// channelRate is a channel's publications a second on a node, from the
// node's last two reports.
function channelRate(n, channel) {
  if (!n.prev) return 0;
  const now = (n.last.channels ?? []).find((c) => c.channel === channel);
  const before = (n.prev.channels ?? []).find((c) => c.channel === channel);
  const dt = (Date.parse(n.last.time) - Date.parse(n.prev.time)) / 1000;
  return now && before && dt > 0 ? Math.max(0, (now.publications - before.publications) / dt) : 0;
}

// chart draws each series as a polyline over the time the samples cover
// (at least a minute, at most HISTORY seconds).
function chart(svg, series) {
  const W = 300, H = svg.viewBox.baseVal.height, now = Date.now();
  const oldest = Math.min(now, ...series.flatMap((s) => s.points.map((p) => p.t)));
  const span = Math.min(HISTORY * 1000, Math.max(60000, now - oldest));
  const top = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.v)));
  const parts = [];
  for (const f of [0.5, 1]) {
    const line = document.createElementNS(SVG, 'line');
    for (const [k, v] of Object.entries({ x1: 0, x2: W, y1: H - f * (H - 10), y2: H - f * (H - 10) })) line.setAttribute(k, v);
    line.setAttribute('class', 'grid');
    parts.push(line);
  }
  const label = document.createElementNS(SVG, 'text');
  label.setAttribute('x', 2); label.setAttribute('y', 8);
  label.textContent = fmt(top);
  parts.push(label);
  for (const s of series) {
    const pl = document.createElementNS(SVG, 'polyline');
    pl.setAttribute('class', s.cls);
    pl.setAttribute('points', s.points.map((p) =>
      `${(W * (1 - (now - p.t) / span)).toFixed(1)},${(H - (p.v / top) * (H - 10)).toFixed(1)}`).join(' '));
    parts.push(pl);
  }
  svg.replaceChildren(...parts);
}

// ---- security ----

function addEvents(list) {
  for (const e of list) {
    const key = [e.node, e.time, e.event, e.request_id, e.client, e.ip].join('|');
    if (seen.has(key)) continue;
    seen.add(key);
    events.unshift(e);
  }
  if (events.length > MAX_EVENTS) {
    for (const e of events.splice(MAX_EVENTS)) seen.delete([e.node, e.time, e.event, e.request_id, e.client, e.ip].join('|'));
  }
  renderEvents();
}

function renderEvents() {
  const filter = $('reason-filter').value;
  const shown = events.filter((e) => !filter || e.reason === filter).slice(0, 200);
  $('events').tBodies[0].replaceChildren(...shown.map((e) => {
    const tr = row([new Date(e.time).toLocaleTimeString('en-GB'), el('td', e.node, 'mono'), e.reason, e.code ?? '',
      el('td', e.request_id ?? '', 'mono'), el('td', e.ip ?? '', 'mono'), e.user ?? '', el('td', e.client ?? '', 'mono'),
      e.detail ?? ''], 'reason-' + e.reason);
    tr.dataset.reason = e.reason;
    tr.dataset.code = e.code ?? '';
    return tr;
  }));
  $('events-shown').textContent = `${shown.length} of ${events.length} shown`;
}

function renderCounts() {
  const totals = {}, minute = {};
  const series = [];
  for (const n of nodes.values()) {
    const last = n.samples.at(-1), ago = n.samples.find((x) => x.t >= last.t - 60000) ?? last;
    for (const r of REASONS) {
      totals[r] = (totals[r] ?? 0) + (last.counts[r] ?? 0);
      minute[r] = (minute[r] ?? 0) + (last.counts[r] ?? 0) - (ago.counts[r] ?? 0);
    }
  }
  REASONS.forEach((r, i) => {
    const pts = [];
    for (const n of nodes.values()) {
      rate(n.samples, (x) => x.counts[r] ?? 0).forEach((p, j) => { pts[j] = { t: p.t, v: (pts[j]?.v ?? 0) + p.v }; });
    }
    if (totals[r]) series.push({ cls: 'r' + i, points: pts.filter(Boolean), reason: r });
  });
  $('counts').tBodies[0].replaceChildren(...REASONS.filter((r) => totals[r]).map((r) => {
    const tr = row([r, totals[r], minute[r]]);
    tr.dataset.reason = r;
    return tr;
  }));
  chart($('chart-security'), series);
  $('legend').replaceChildren(...series.map((s) => el('li', s.reason, s.cls)));
}

// ---- presence and actions ----

async function presence(ev) {
  ev.preventDefault();
  const ch = $('presence-channel').value.trim();
  $('presence-list').replaceChildren();
  try {
    const r = await api('GET', '/console/api/presence?channel=' + encodeURIComponent(ch));
    $('presence-result').textContent = `${r.clients.length} subscribed to ${r.channel}`;
    $('presence-list').replaceChildren(...r.clients.map((c) => el('li', `${c.user} (client ${c.client})`)));
  } catch (err) {
    $('presence-result').textContent = 'Presence refused: ' + err.message;
  }
}

async function disconnect(ev) {
  ev.preventDefault();
  const kind = $('disconnect-kind').value, target = $('disconnect-target').value.trim();
  try {
    const r = await api('POST', '/console/api/disconnect', { [kind]: target });
    $('action-result').textContent = `Disconnected ${r.disconnected} connection(s) of ${kind} ${target} on this node.`;
  } catch (err) {
    $('action-result').textContent = 'Disconnect refused: ' + err.message;
  }
}

async function drain(ev) {
  ev.preventDefault();
  if (!$('drain-confirm').checked) {
    $('action-result').textContent = 'Tick "I mean it" to drain this node.';
    return;
  }
  try {
    const r = await api('POST', '/console/api/drain', { window: $('drain-window').value.trim() });
    $('action-result').textContent = `Draining ${r.connections} connection(s) over ${r.window}.`;
  } catch (err) {
    $('action-result').textContent = 'Drain refused: ' + err.message;
  }
}

// ---- start ----

for (const r of REASONS) $('reason-filter').append(new Option(r, r));
$('reason-filter').addEventListener('change', renderEvents);
$('login-form').addEventListener('submit', login);
$('logout').addEventListener('click', logout);
$('presence-form').addEventListener('submit', presence);
$('disconnect-form').addEventListener('submit', disconnect);
$('drain-form').addEventListener('submit', drain);
for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => { location.hash = b.dataset.tab; });
window.addEventListener('hashchange', route);

api('GET', '/console/api/session')
  .then((s) => { session = s; return start(); })
  .catch(() => { document.body.dataset.state = 'logged-out'; route(); });
