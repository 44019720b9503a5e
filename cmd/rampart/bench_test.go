package main

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/internal/bench"
)

// The command line a --procs parent gives its children parses back into
// the options it was made from.
func TestBenchChildArgsParseBack(t *testing.T) {
	secret := "bench-flags-secret-0123456789abcdef-0123"
	t.Setenv("RAMPART_BENCH_SECRET", secret)
	sources, err := bench.ParseSources("127.0.0.2-127.0.0.4")
	if err != nil {
		t.Fatal(err)
	}
	want := bench.Options{URL: "ws://127.0.0.1:9/ws", Mode: "fanout", Conns: 7, First: 14, Channel: "bench:c",
		Channels: 1, Users: 3, Sources: sources, Concurrency: 2, Duration: time.Second, Rate: 10, Size: 100,
		Procs: 1, Timeout: time.Minute, Drain: 2 * time.Second, Secret: []byte(secret)}
	args := bench.ChildArgs(want)
	got, role, err := parseBenchFlags(args[1:], io.Discard)
	if err != nil || role != "subscribers" || args[0] != "bench" {
		t.Fatalf("parse %q: role %q, %v", args, role, err)
	}
	got.Log = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed back:\n%+v\nwant\n%+v", got, want)
	}
}

func TestBenchBadFlagsExit2(t *testing.T) {
	t.Setenv("RAMPART_JWT_SECRET", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--url", "ws://10.0.0.1/ws"}, "the target must be a loopback address"},
		{[]string{"bench", "--sources", "10.0.0.1"}, "--sources"},
		{[]string{"bench", "--mode", "burst"}, "--mode must be idle or fanout"},
		{[]string{"bench", "--no-such-flag"}, "flag provided but not defined"},
	} {
		var out, errOut bytes.Buffer
		if code := run(tc.args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}
