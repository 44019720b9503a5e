package main

import (
	"fmt"
	"io"
	"os"

	"github.com/rampart-rt/rampart/config"
)

// checkConfig validates a configuration file the way serve would.
func checkConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: rampart check-config FILE")
		return 2
	}
	if _, err := config.Load(args[0], os.Environ()); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, args[0]+": ok")
	return 0
}
