// Package faulttest is the fault suite of a Rampart cluster: it builds the
// rampart and nats-server binaries, starts two `rampart serve` processes
// on a real redis-server or nats-server process, keeps a steady publisher
// and a few hundred subscribers busy, and then breaks something: the
// broker killed (with its data, and empty), stalled, its pub/sub
// connection cut, a node killed, a rolling restart, a reload under load;
// and on Redis Sentinel and Redis Cluster, a primary killed and failed
// over.
//
// Its subscribers follow the protocol's recovery (docs/protocol.md §7) and
// the suite judges the server by what each subscription saw: no
// publication the publisher had acknowledged may be missing unless the
// subscriber was told (recovered: false, or a new epoch), no offset comes
// twice or out of order, service is back within a bound after the fault
// ends, and /readyz answers 503 while a node cannot serve.
//
// The tests carry the build tag "faults" (they start many processes and
// take about two minutes): go test -tags faults -race ./internal/faulttest/
// RAMPART_FAULTS_BINARY runs them against another rampart binary (an
// older commit's, to compare) instead of building the working tree's.
//
// The package has no code outside its tests; it decides nothing.
package faulttest
