package rampart

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when any goroutine outlives the tests: every
// test shuts its server down and closes its listener in t.Cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
