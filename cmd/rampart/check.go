package main

import (
	"fmt"
	"io"
	"os"

	"github.com/rampart-rt/rampart/config"
)

// checkConfig validates a configuration file the way serve would.
func checkConfig(args []string, stdout, stderr io.Writer) int {
	pos, exit, ok := mustLookup("check-config").parse(nil, args, stdout, stderr)
	if !ok {
		return exit
	}
	if _, err := config.Load(pos[0], os.Environ()); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, pos[0]+": ok")
	return 0
}
