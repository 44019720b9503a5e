// Package redistest starts real Redis topologies for tests: Sentinel (a
// primary, a replica and three sentinels) and Redis Cluster (three
// primaries with one replica each, joined by `redis-cli --cluster
// create`), optionally requiring a password everywhere. Every process is a
// redis-server from PATH, listening on 127.0.0.1 only, with its files in
// the test's temporary directory, and is stopped by its pid when the test
// ends. Failover timeouts are short (a primary silent for 1 s is failed
// over), so a failover completes in 2 to 4 s. Every wait polls with a
// deadline.
//
// It also makes the faults the brokers must survive: a primary killed
// (SIGKILL) and a replica promoted in its place, optionally after the
// replicas missed the primary's last writes, as asynchronous replication
// allows.
//
// The package decides nothing about Rampart: the tests using it decide
// what to check.
package redistest
