// A plain `ws` server, strict or lax (argv[2]), echoing messages.
//   strict: Origin allow-list, token (bearer or cookie sid) at the upgrade, 5 connections
//           and 45 handshakes a minute per address, maxPayload 64 KiB, no
//           compression, pings every 500 ms (no pong: terminated), short
//           header timeouts, security headers.
//   lax:    ws's defaults: any origin, no authentication, maxPayload
//           100 MiB, permessage-deflate, no pings; errors show a stack.
import { WebSocketServer } from 'ws';
import { gate, track, refuse, strictServer, laxServer, announce } from './common.mjs';

const strict = process.argv[2] === 'strict';
const echo = (ws) => {
  ws.on('error', () => {}); // a protocol error ends that connection only
  ws.on('message', (data, binary) => ws.send(data, { binary }));
};

if (strict) {
  const server = strictServer();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
  server.on('upgrade', (req, socket, head) => {
    const status = gate(req);
    if (status) return refuse(socket, status);
    track(socket);
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.isAlive = true;
      ws.on('pong', () => { ws.isAlive = true; });
      echo(ws);
    });
  });
  setInterval(() => {
    for (const ws of wss.clients) {
      if (!ws.isAlive) { ws.terminate(); continue; }
      ws.isAlive = false;
      ws.ping();
    }
  }, 500);
  announce(server);
} else {
  const server = laxServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: true });
  wss.on('connection', echo);
  announce(server);
}
