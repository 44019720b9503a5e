// Command handshake-floor serves the least a Go server can do per
// WebSocket handshake (bench.ServeFloor), so that `rampart bench --mode
// handshake` can measure the floor of the handshake rows on this machine:
//
//	go run ./scripts/handshake-floor -listen 127.0.0.1:18492 &
//	rampart bench --mode handshake --url ws://127.0.0.1:18492/ws --server-pid $!
//
// It listens on loopback addresses only and stops on SIGINT or SIGTERM.
// It is a measuring instrument, not a server: no token, no limits.
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
	flag.Parse()
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
	fmt.Fprintf(os.Stderr, "handshake-floor: pid %d listening on %s\n", os.Getpid(), ln.Addr())
	if err := bench.ServeFloor(ln); err != nil {
		fmt.Fprintln(os.Stderr, "handshake-floor:", err)
		os.Exit(1)
	}
}
