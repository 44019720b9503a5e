// The Rampart chat demo. Every message is rendered with textContent: nothing
// that arrives from the network is ever parsed as HTML.
import { RampartClient, RampartError } from './rampart.js';

const CHANNEL = 'chat:lobby';
const HISTORY = 50;

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// Token lifetime in seconds (?ttl=3 shows renewal at work).
const shortTokens = /^\d{1,5}$/.test(params.get('ttl') ?? '');
const ttl = shortTokens ? params.get('ttl') : '600';

let client = null;
let recovered = 0;
let renewals = 0;
let connects = 0;

function wsURL() {
  return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
}

function tokenFor(user) {
  return async () => {
    const res = await fetch(`/dev/token?user=${encodeURIComponent(user)}&ttl=${ttl}`,
      { cache: 'no-store', credentials: 'same-origin' });
    if (!res.ok) throw new Error(`the token endpoint answered ${res.status}`);
    const body = await res.json();
    if (typeof body.token !== 'string') throw new Error('the token endpoint sent no token');
    return body.token;
  };
}

function showState(state) {
  const el = $('state');
  el.textContent = state;
  el.dataset.state = state;
}

function notice(text) {
  $('notice').textContent = text;
}

// tokenStatus shows how the page's token is doing: the server asks for a
// new one before it expires (refresh_required), and the client sends it on
// the open connection, so nothing reconnects.
function tokenStatus(text) {
  const el = $('token');
  el.textContent = text;
  el.hidden = false;
}

function tokenIntro() {
  return shortTokens ? `Tokens live ${ttl}s here. ` : '';
}

function renewed({ expiresAt }) {
  renewals++;
  document.body.dataset.renewals = String(renewals);
  const left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
  tokenStatus(`${tokenIntro()}Token renewed on the open connection (${renewals} so far, no reconnect); the new one expires in ${left}s.`);
}

// connected clears what the last connection left: its notice and its
// errors are stale once the client is connected again.
function connected() {
  connects++;
  document.body.dataset.connects = String(connects);
  notice('');
  $('errors').replaceChildren();
}

function showError(err) {
  const li = document.createElement('li');
  if (err instanceof RampartError) {
    li.textContent = `${err.code}: ${err.message}` + (err.requestId ? ` (request ${err.requestId})` : '') +
      (err.closeCode ? ` [close ${err.closeCode}]` : '') +
      (err.retryAfterMs ? ` retry after ${err.retryAfterMs} ms` : '');
    li.dataset.code = err.code;
  } else {
    li.textContent = String(err?.message ?? err);
  }
  const list = $('errors');
  list.append(li);
  while (list.children.length > 5) list.firstElementChild.remove();
}

function render(pub) {
  const li = document.createElement('li');
  li.dataset.offset = String(pub.offset);
  const user = document.createElement('span');
  // A publication without a user came from the server itself (the HTTP API).
  const sender = pub.info?.user;
  user.className = sender ? 'user' : 'user server';
  user.textContent = sender || 'server';
  const text = document.createElement('span');
  text.className = 'text';
  const d = pub.data;
  text.textContent = d && typeof d.text === 'string' ? d.text : JSON.stringify(d);
  li.append(user, text);
  li.dataset.epoch = pub.epoch;
  // Keep offset order within an epoch (a backfill can arrive after newer messages).
  const list = $('messages');
  let next = null;
  for (const el of list.children) {
    if (el.dataset.epoch === pub.epoch && Number(el.dataset.offset) > pub.offset) { next = el; break; }
  }
  list.insertBefore(li, next);
  li.scrollIntoView({ block: 'nearest' });
}

// unrecovered handles recovery_failed: the messages after since, up to
// offset in epoch, were not delivered. It comes after a reconnection or for
// a gap while connected. When the epoch changed, the server lost the
// channel's history (a restart, say); otherwise the messages are no longer
// kept. Either way the page shows what the channel still has of them, up to
// the position the subscription goes on from.
async function unrecovered({ since, offset, epoch }) {
  const reset = since.epoch !== epoch;
  const missed = reset ? 0 : offset - since.offset;
  const tell = (shown) => {
    if (reset) notice('The channel\'s history was reset on the server; earlier messages may be missing.');
    else if (shown < missed) notice(`${missed - shown} missed message(s) could not be recovered.`);
    else notice(`${shown} missed message(s) recovered.`);
  };
  if (reset) document.body.dataset.epochs = String(Number(document.body.dataset.epochs ?? '1') + 1);
  tell(0);
  try {
    const h = await client.history(CHANNEL, { limit: HISTORY });
    const kept = h.publications.filter((p) => p.epoch === epoch && p.offset <= offset && (reset || p.offset > since.offset));
    kept.forEach(render);
    tell(kept.length);
  } catch (err) {
    showError(err);
  }
}

async function join(user) {
  $('join').hidden = true;
  $('send').hidden = false;
  $('who').textContent = `as ${user}`;
  client = new RampartClient(wsURL(), { getToken: tokenFor(user) });
  client.on('state', ({ state }) => showState(state));
  client.on('error', showError);
  client.on('recovered', ({ publications }) => {
    recovered += publications;
    document.body.dataset.recovered = String(recovered);
    notice(`${publications} missed message(s) recovered.`);
  });
  client.on('recovery_failed', (ev) => unrecovered(ev));
  client.on('unsubscribed', ({ reason }) => notice(`The server ended the subscription (${reason}).`));
  client.on('disconnected', ({ code, reconnect, delayMs }) => {
    notice(reconnect ? `Connection lost (close ${code}); retrying in ${Math.round(delayMs / 100) / 10}s.`
      : `Disconnected (close ${code}).`);
  });
  client.on('connected', connected);
  client.on('token_refreshed', renewed);
  if (shortTokens) tokenStatus(`${tokenIntro()}Watch them renew without a reconnect.`);
  try {
    await client.connect();
    const h = await client.history(CHANNEL, { limit: HISTORY });
    h.publications.forEach(render);
    await client.subscribe(CHANNEL, render, { since: { offset: h.offset, epoch: h.epoch } });
    document.body.dataset.ready = 'true';
    $('text').focus();
  } catch (err) {
    showError(err);
  }
}

$('join').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = $('name').value.trim();
  if (name) join(name);
});

$('send').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = $('text');
  const text = input.value;
  if (!text || !client) return;
  try {
    await client.publish(CHANNEL, { text });
    input.value = '';
  } catch (err) {
    showError(err);
  }
});

// ?user=NAME fills the name in and joins at once.
const preset = params.get('user');
if (preset && /^[A-Za-z0-9_.:@-]{1,64}$/.test(preset)) {
  $('name').value = preset;
  join(preset);
}
