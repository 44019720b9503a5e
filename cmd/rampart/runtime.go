package main

import (
	"os"
	"strings"
	"syscall"

	"github.com/rampart-rt/rampart/internal/gctune"
)

// A server holding many idle connections spends most of its memory on two
// things the Go runtime sizes for throughput by default: the heap's growth
// between collections, and the stacks of new goroutines, which start at the
// average stack size seen so far (4 KiB here, where each connection's
// reader needs just over 1 KiB). For `rampart serve` the binary picks
// settings that keep an idle connection small, unless the operator set
// them (see docs/performance.md for the measurements):
//
//   - GOGC=40: the heap grows by 40%, not by 100%, before a collection,
//     but always by at least 16 MiB (internal/gctune): with few
//     connections the live heap is small, and a burst of handshakes would
//     otherwise run a collection every few milliseconds;
//   - GODEBUG=adaptivestackstart=0: goroutines start at 2 KiB. This setting
//     is read only when the process starts, so the binary re-executes
//     itself once with it added to the environment.
const (
	defaultGOGC       = 40
	defaultHeadroom   = 16 << 20
	stackStartSetting = "adaptivestackstart=0"
)

// tuneRuntime applies the settings; it returns only if it did not re-exec.
func tuneRuntime(args []string) {
	if len(args) < 2 || args[1] != "serve" {
		return
	}
	if os.Getenv("GOGC") == "" {
		gctune.Start(defaultGOGC, defaultHeadroom)
	}
	godebug := os.Getenv("GODEBUG")
	if strings.Contains(godebug, "adaptivestackstart=") {
		return // the operator's choice, or the re-executed process
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	if godebug != "" {
		godebug += ","
	}
	env := []string{"GODEBUG=" + godebug + stackStartSetting}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GODEBUG=") {
			env = append(env, kv)
		}
	}
	_ = syscall.Exec(exe, args, env) // on failure, run with the default stacks
}
