package rampart

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// runLog receives the JSON log of every server the tests start with
// baseConfig, and runSecrets every token, key and secret the tests use:
// after the run no secret may appear in any line.
var (
	runLog     = &logBuffer{}
	runSecrets sync.Map // string -> struct{}
)

func rememberSecret(s string) string {
	runSecrets.Store(s, struct{}{})
	return s
}

func runLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(runLog, nil)) }

// TestMain fails the package when any goroutine outlives the tests (every
// test shuts its server down and closes its listener in t.Cleanup), or when
// a secret reached the log of any server of the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left after the tests:", err)
			code = 1
		}
	}
	if leak := secretInLog(); leak != "" {
		fmt.Fprintln(os.Stderr, "a secret reached the log:", leak)
		code = 1
	}
	os.Exit(code)
}

// secretInLog returns a description of the first secret found in runLog.
func secretInLog() string {
	all := runLog.text()
	found := ""
	runSecrets.Range(func(k, _ any) bool {
		s := k.(string)
		probe := s
		if len(probe) > 24 {
			probe = probe[len(probe)-24:] // a JWT's signature end, an API key's tail
		}
		if strings.Contains(all, probe) {
			found = fmt.Sprintf("%.10s... (%d log bytes searched)", s, len(all))
			return false
		}
		return true
	})
	return found
}

func TestRunLogIsCaptured(t *testing.T) {
	s := startServer(t, nil)
	s.dial(t, token(t, "logcheck"))
	waitFor(t, "the connection to be logged", func() bool {
		return strings.Contains(runLog.text(), `"connection_opened"`)
	})
}
