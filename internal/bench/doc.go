// Package bench is the load generator behind `rampart bench`, for servers
// on loopback only: it refuses any other target. It decides how the load is
// made and measured, one mode per row of docs/performance.md:
//
//   - idle: Conns authenticated connections, each subscribed to a channel
//     (shared by Channels, or one of its own with ChannelPerConn), held for
//     Duration (or until the context ends): how fast they open, and what
//     an idle connection costs the server in memory and CPU;
//   - fanout: Conns subscribers on one channel while one publisher sends
//     Rate publications a second of Size bytes for Duration; every
//     delivery's offset is checked (lost, duplicate, gap) and its latency
//     recorded;
//   - ramp: the same subscribers, the rate raised by RateStep after each
//     step of Duration, stopping at the first step that loses, duplicates
//     or skips a delivery, or whose p99 latency is over P99Limit: the
//     highest passing step is the most the server delivers within the
//     limit;
//   - handshake: Loops loops, each opening a connection with a freshly
//     minted token, waiting for its welcome and closing it, until
//     Handshakes are done or Duration has passed.
//
// Every mode spreads its connections over Sources (any 127.0.0.x, so that
// per-IP limits and the ephemeral ports of one address are not the bound)
// and over Procs processes (this binary, run as `rampart bench --role
// child`, see ChildArgs), since one process may hold at most 20000 files.
// Progress goes to Options.Log; the outcome is one Report, printed as one
// line of JSON. Given the server's process id, it reads the server's CPU
// time and memory from /proc, the same way for any server.
//
// Tokens are minted from Options.Secret, as `rampart token` does, for users
// bench-0 .. bench-(Users-1) with the role "bench". Every loop is bounded
// by a count and by Timeout, after which everything stops.
//
// It decides nothing about the server: it is an ordinary client of the
// protocol, and the numbers it prints are what docs/performance.md
// records. Speed targets live here and in benchmarks, never in unit tests.
package bench
