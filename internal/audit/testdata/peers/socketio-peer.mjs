// A Socket.IO server, strict or lax (argv[2]), echoing "message" events.
//   strict: websocket transport only; allowRequest checks the Origin
//           allow-list, the token (bearer or cookie) and the per-address
//           budgets; an
//           io.use() middleware checks them again on connect;
//           maxHttpBufferSize 64 KiB, no compression, pings every second,
//           short header timeouts, security headers on every answer.
//   lax:    Socket.IO's defaults: any origin, no authentication,
//           maxHttpBufferSize 100 MB, compression, pings every 25 s; errors
//           show a stack.
import { Server } from 'socket.io';
import { gate, track, strictHeaders, strictServer, laxServer, announce, authenticated } from './common.mjs';

const strict = process.argv[2] === 'strict';
const echo = (socket) => socket.on('message', (m) => socket.emit('message', m));

if (strict) {
  const server = strictServer();
  const io = new Server(server, {
    transports: ['websocket'],
    maxHttpBufferSize: 64 * 1024,
    perMessageDeflate: false,
    httpCompression: false,
    pingInterval: 1000,
    pingTimeout: 1000,
    connectTimeout: 2000,
    serveClient: false,
    allowRequest: (req, cb) => {
      const status = gate(req);
      if (status) return cb('refused', false);
      track(req.socket);
      cb(null, true);
    },
  });
  // Engine.IO answers its own errors: give them the security headers too.
  const [engine] = server.listeners('request');
  server.removeAllListeners('request');
  server.on('request', (req, res) => {
    for (const [k, v] of Object.entries(strictHeaders)) res.setHeader(k, v);
    engine.call(server, req, res);
  });
  io.use((socket, next) => {
    if (!authenticated({ headers: socket.handshake.headers })) return next(new Error('unauthorized'));
    next();
  });
  io.on('connection', echo);
  announce(server);
} else {
  const server = laxServer();
  const io = new Server(server, { perMessageDeflate: true, maxHttpBufferSize: 1e8, serveClient: false });
  io.on('connection', echo);
  announce(server);
}
