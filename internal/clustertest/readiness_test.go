package clustertest

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// A node whose broker does not answer says so on /readyz (503), so that a
// load balancer stops sending it clients it would refuse; it is ready
// again once the broker is back.
func TestReadinessFollowsTheBroker(t *testing.T) {
	addr, stop, err := startRedis("")
	if err != nil {
		t.Fatal(err)
	}
	nd := startNodes(t, 1, configYAML(redisBrokerAt(addr), roomy))[0]
	stop() // the broker is gone
	readyzBecomes(t, nd, http.StatusServiceUnavailable)
	_, stop, err = startRedis(addr[strings.LastIndexByte(addr, ':')+1:])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	readyzBecomes(t, nd, http.StatusOK)
	dial(t, nd, "alice").call("ping", nil, nil) // and it serves
}

func readyzBecomes(t *testing.T, nd *node, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + nd.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /readyz did not answer %d within 10s (%v)", nd.name, want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
