// Package bench is the load generator behind `rampart bench`, for servers
// on loopback only: it refuses any other target. It decides how the load is
// made and measured:
//
//   - idle: Conns authenticated connections, each subscribed to a channel,
//     held for Duration (or until the context ends), to measure what an
//     idle connection costs the server;
//   - fanout: Conns subscribers on one channel, in this process or in Procs
//     subscriber processes (this binary, run as `rampart bench --role
//     subscribers`, see ChildArgs), while one publisher sends Rate
//     publications a second of Size bytes for Duration; every delivery's
//     offset is checked (lost, duplicate, gap) and its latency recorded.
//
// Tokens are minted from Options.Secret, as `rampart token` does, for users
// bench-0 .. bench-(Users-1) with the role "bench". Every loop is bounded
// by a count and by Timeout, after which everything stops.
//
// It decides nothing about the server: it is an ordinary client of the
// protocol, and the numbers it prints are what docs/performance.md
// records. Speed targets live here and in benchmarks, never in unit tests.
package bench
