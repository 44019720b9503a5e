// Shared by the peers: the strict side's gate (origin allow-list, bearer
// token, connections and handshakes per address) and how a peer announces
// its port. PEER_TOKEN and PEER_ORIGIN come from the test.
import http from 'node:http';

export const token = process.env.PEER_TOKEN ?? '';
export const origin = process.env.PEER_ORIGIN ?? '';

const open = new Map(); // address -> connections open
const bucket = new Map(); // address -> {tokens, at}
const HANDSHAKES_PER_MINUTE = 45;
const CONNECTIONS_PER_ADDRESS = 5;

// gate returns an HTTP status refusing req, or 0 to let it through.
export function gate(req) {
  const addr = req.socket.remoteAddress;
  const now = Date.now();
  const b = bucket.get(addr) ?? { tokens: HANDSHAKES_PER_MINUTE, at: now };
  b.tokens = Math.min(HANDSHAKES_PER_MINUTE, b.tokens + ((now - b.at) / 60000) * HANDSHAKES_PER_MINUTE);
  b.at = now;
  bucket.set(addr, b);
  if (b.tokens < 1) return 429;
  b.tokens -= 1;
  if (req.headers.origin !== origin) return 403;
  if (!authenticated(req)) return 401;
  if ((open.get(addr) ?? 0) >= CONNECTIONS_PER_ADDRESS) return 503;
  return 0;
}

// authenticated says whether req carries the token, as a bearer header
// or as the session cookie sid.
export function authenticated(req) {
  const cookies = (req.headers.cookie ?? '').split(';').map((c) => c.trim());
  return req.headers.authorization === `Bearer ${token}` || cookies.includes(`sid=${token}`);
}

// track counts socket's connection against its address until it closes.
export function track(socket) {
  const addr = socket.remoteAddress;
  open.set(addr, (open.get(addr) ?? 0) + 1);
  socket.once('close', () => open.set(addr, open.get(addr) - 1));
}

export const strictHeaders = {
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
};

// refuse answers an upgrade request on its raw socket.
export function refuse(socket, status) {
  const text = http.STATUS_CODES[status] ?? 'Refused';
  const head = Object.entries(strictHeaders).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n${head}\r\n${text}`);
}

// strictServer is an HTTP server with short header timeouts that answers
// plain requests 426 with the security headers.
export function strictServer() {
  const server = http.createServer({ headersTimeout: 2000, requestTimeout: 4000, connectionsCheckingInterval: 250 }, (req, res) => {
    res.writeHead(426, { ...strictHeaders, 'Content-Type': 'text/plain' });
    res.end('Upgrade Required');
  });
  return server;
}

// laxServer is an HTTP server with Node's defaults whose errors show a
// stack and the software.
export function laxServer() {
  return http.createServer((req, res) => {
    res.writeHead(404, { 'X-Powered-By': 'Express', Server: `node/${process.versions.node}`, 'Content-Type': 'text/plain' });
    res.end(`Cannot GET ${req.url}\n${new Error('not found').stack}`);
  });
}

// announce prints the port the test waits for.
export function announce(server) {
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
  });
}
