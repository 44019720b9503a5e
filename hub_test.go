package rampart

import (
	"sync"
	"testing"
)

// Subscribers of one channel come and go concurrently over real
// connections; afterwards a publication reaches exactly the connections
// still subscribed. (internal/hub's own tests check it keeps nothing.)
func TestHubChurn(t *testing.T) {
	s := startServer(t, nil)
	const clients, rounds = 6, 40
	conns := make([]*client, clients)
	for i := range conns {
		conns[i] = s.dial(t, token(t, "churn"))
	}
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				c.subscribe("chat:churn")
				c.ok("unsubscribe", `"channel":"chat:churn"`)
			}
		}()
	}
	wg.Wait()
	conns[0].subscribe("chat:churn")
	conns[1].subscribe("chat:churn")
	conns[2].publish("chat:churn", `"after"`)
	for _, c := range conns[:2] {
		if p := c.nextPush(); p.Channel != "chat:churn" || string(p.Data) != `"after"` {
			t.Fatalf("delivered %s", p.raw)
		}
	}
	if extra := conns[2].barrier(); len(extra) != 0 {
		t.Fatalf("an unsubscribed connection received %s", extra[0].raw)
	}
}
