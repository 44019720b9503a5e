// Command handshake-floor serves the least a Go server can do per
// WebSocket handshake (bench.ServeFloor), so that `rampart bench --mode
// handshake` can measure the floor of the handshake rows on this machine:
//
//	go run ./scripts/handshake-floor -listen 127.0.0.1:18492 &
//	rampart bench --mode handshake --url ws://127.0.0.1:18492/ws --server-pid $!
//
// -mode picks the floor: "raw" (bench.ServeFloor: no HTTP parsing, no
// token), "http" (bench.ServeFloorHTTP: net/http in front, no token) or
// "token" (net/http and an HS256 bearer token verified under the secret in
// RAMPART_JWT_SECRET, as `rampart bench` mints them).
//
// It listens on loopback addresses only and stops on SIGINT or SIGTERM.
// It is a measuring instrument, not a server: no limits, no logs.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/rampart-rt/rampart/internal/bench"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18492", "loopback address to listen on")
	mode := flag.String("mode", "raw", "raw, http or token")
	flag.Parse()
	var secret []byte
	switch *mode {
	case "raw", "http":
	case "token":
		if secret = []byte(os.Getenv("RAMPART_JWT_SECRET")); len(secret) < 32 {
			fmt.Fprintln(os.Stderr, "handshake-floor: -mode token needs RAMPART_JWT_SECRET of at least 32 bytes")
			os.Exit(2)
		}
	default:
		fmt.Fprintln(os.Stderr, "handshake-floor: -mode must be raw, http or token")
		os.Exit(2)
	}
	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintln(os.Stderr, "handshake-floor: -listen must be a loopback address and port")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "handshake-floor:", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; ln.Close() }()
	fmt.Fprintf(os.Stderr, "handshake-floor: pid %d, mode %s, listening on %s\n", os.Getpid(), *mode, ln.Addr())
	serve := bench.ServeFloor
	if *mode != "raw" {
		serve = func(ln net.Listener) error { return bench.ServeFloorHTTP(ln, secret) }
	}
	if err := serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "handshake-floor:", err)
		os.Exit(1)
	}
}
