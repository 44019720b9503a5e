// Package clustertest holds the multi-process tests and benchmarks of a
// Rampart cluster: it builds the rampart binary once, starts several
// `rampart serve` processes against one real redis-server (or an embedded
// NATS server with JetStream), and drives them over WebSocket as clients
// do: cross-node delivery, recovery after a node is killed, connection
// limits across nodes, presence, and cross-node latency and throughput.
//
// The package has no code outside its tests; it decides nothing.
package clustertest
