package rampart

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/rampart-rt/rampart/broker"
)

// backends asks the broker and the limiter whether their backends answer,
// at most once per readinessTTL whatever the probe rate, and logs each
// change of the answer.
type backends struct {
	pingers []broker.Pinger
	log     *slog.Logger

	mu    sync.Mutex // guards the fields below; held across the ping, so probes share one
	at    time.Time
	ok    bool
	known bool
}

// readinessTTL is how long one answer is reused; readinessTimeout bounds a
// ping.
const (
	readinessTTL     = time.Second
	readinessTimeout = 2 * time.Second
)

func newBackends(log *slog.Logger, parts ...any) *backends {
	b := &backends{log: log}
	for _, p := range parts {
		if pg, ok := p.(broker.Pinger); ok {
			b.pingers = append(b.pingers, pg)
		}
	}
	return b
}

func (b *backends) ready(ctx context.Context) bool {
	if len(b.pingers) == 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.known && time.Since(b.at) < readinessTTL {
		return b.ok
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readinessTimeout)
	defer cancel()
	var failed error
	for _, p := range b.pingers {
		if err := p.Ping(ctx); err != nil {
			failed = err
			break
		}
	}
	ok := failed == nil
	switch {
	case ok && b.known && !b.ok:
		b.log.Info("backends answer again: ready", "event", "ready")
	case !ok && (!b.known || b.ok):
		b.log.Warn("a backend does not answer: not ready", "event", "not_ready", "error", failed.Error())
	}
	b.at, b.ok, b.known = time.Now(), ok, true
	return ok
}
