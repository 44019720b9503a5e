package rampart_test

import (
	"fmt"
	"log"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/config"
)

// A program that reads Rampart's configuration file: package config
// reports each problem with its line, and what it checked and compiled
// becomes the server's Config without being compiled again.
func ExampleConfigOf() {
	env := []string{"RAMPART_JWT_SECRET=0123456789abcdef0123456789abcdef"}
	_, err := config.Parse("rampart.yaml", []byte("limits:\n  burst: -1\n"), env)
	fmt.Println(err)

	f, err := config.Parse("rampart.yaml", []byte("limits:\n  burst: 20\nchannels:\n  - pattern: \"news:*\"\n    subscribe: [user]\n"), env)
	if err != nil {
		log.Fatal(err)
	}
	cfg := rampart.ConfigOf(f.Compiled()) // then set Logger, Broker...; rampart.New(cfg)
	fmt.Println(cfg.Limits.Burst, cfg.Limits.SendQueue, cfg.Channels[0].Pattern)
	// Output:
	// rampart.yaml:2: limits.burst: must be between 1 and 1048576, not -1
	// 20 256 news:*
}
