//go:build faults

package faulttest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// secret signs the subscribers' tokens; the nodes read it from
	// RAMPART_JWT_SECRET.
	secret = "fault-test-secret-of-at-least-32-bytes"
	// apiKey is the publisher's key for POST /api/publish.
	apiKey = "fault-test-api-key-0123456789abcdefghij"
	// startWithin bounds starting any process, restarts included.
	startWithin = 15 * time.Second
)

var (
	rampartBin string // built once by TestMain
	natsBin    string // nats-server v2.15.2, the version go.mod requires
)

func TestMain(m *testing.M) {
	code, err := buildAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// buildAndRun builds the two binaries (the Go build cache makes it a few
// seconds) and runs the tests.
func buildAndRun(m *testing.M) (int, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return 0, errors.New("redis-server is not on PATH; install it with: bash scripts/services.sh")
	}
	dir, err := os.MkdirTemp("", "rampart-faults-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	rampartBin = filepath.Join(dir, "rampart")
	natsBin = filepath.Join(dir, "nats-server")
	builds := map[string]string{
		rampartBin: "github.com/rampart-rt/rampart/cmd/rampart",
		natsBin:    "github.com/nats-io/nats-server/v2",
	}
	if bin := os.Getenv("RAMPART_FAULTS_BINARY"); bin != "" {
		rampartBin = bin // another build of rampart, to compare
		delete(builds, filepath.Join(dir, "rampart"))
	}
	for bin, pkg := range builds {
		build := exec.Command("go", "build", "-o", bin, pkg)
		if out, err := build.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return m.Run(), nil
}

// freePort returns a loopback port that was free a moment ago. Processes
// that restart keep their port, so it is chosen here, not by the kernel
// at each start.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func token(user string) string {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		panic(err) // HS256 with a fixed key does not fail
	}
	return tok
}

// poll calls cond every interval until it holds or within has passed, and
// reports whether it held.
func poll(within, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}
