package clustertest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-rt/rampart/internal/wstest"
)

const apiKey = "cluster-test-api-key-0123456789abcdef"

// apiConfig is configYAML with the HTTP API on, its key in a file.
func apiConfig(t *testing.T, brokerYAML string) string {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "api-keys")
	if err := os.WriteFile(keys, []byte(apiKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return strings.Replace(configYAML(brokerYAML, limits{perIP: 1000, perUser: 1000}),
		"broker:", fmt.Sprintf("api: { keys_file: %q }\nbroker:", keys), 1)
}

// callAPI posts body to path on nd's HTTP API and decodes the answer.
func callAPI(t *testing.T, nd *node, path string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+nd.addr+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", nd.name, path, err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// closeCode reads c's frames until its close frame and returns its code
// (0 when the connection ended without one).
func (c *conn) closeCode() int {
	c.t.Helper()
	for {
		_, _, err := c.ws.ReadMessage(waitFor)
		if err == nil {
			continue
		}
		var ce *wstest.CloseError
		if errors.As(err, &ce) {
			return int(ce.Code)
		}
		c.t.Fatalf("connection ended without a close frame: %v", err)
	}
}

// TestServerAPIActsOnEveryNode: over Redis and over NATS, the server API's
// disconnect, subscribe and unsubscribe, called on one node, act on the
// target's connections on the other node too; the answer counts the
// connections of the node called.
func TestServerAPIActsOnEveryNode(t *testing.T) {
	t.Parallel()
	for name, brokerYAML := range brokerKinds() {
		t.Run(name, func(t *testing.T) {
			nodes := startNodes(t, 2, apiConfig(t, brokerYAML(t)))
			user := "api-" + randomID()
			here, there := dial(t, nodes[0], user), dial(t, nodes[1], user)
			bystander := dial(t, nodes[1], "bystander-"+randomID())
			const ch = "room:api"

			// subscribe on node 1: the connection on node 2 gets its push.
			if status, out := callAPI(t, nodes[0], "/api/subscribe", map[string]any{"user": user, "channel": ch}); status != 200 || out["connections"] != 1.0 {
				t.Fatalf("subscribe: %d %v, want 200 and this node's one connection", status, out)
			}
			for _, c := range []*conn{here, there} {
				if f := c.read(); f.Push != "subscribe" {
					t.Fatalf("after the API's subscribe: %+v, want a subscribe push", f)
				}
			}
			bystander.publish(ch, 1)
			for _, c := range []*conn{here, there} {
				c.waitPubs(1)
			}

			// unsubscribe on node 2: the connection on node 1 gets its push.
			if status, out := callAPI(t, nodes[1], "/api/unsubscribe", map[string]any{"user": user, "channel": ch}); status != 200 || out["connections"] != 1.0 {
				t.Fatalf("unsubscribe: %d %v", status, out)
			}
			for _, c := range []*conn{here, there} {
				if f := c.read(); f.Push != "unsubscribe" {
					t.Fatalf("after the API's unsubscribe: %+v, want an unsubscribe push", f)
				}
			}

			// disconnect on node 1: both connections close with the code;
			// the bystander on node 2 stays.
			if status, out := callAPI(t, nodes[0], "/api/disconnect", map[string]any{"user": user, "code": 4321, "reason": "revoked"}); status != 200 || out["disconnected"] != 1.0 {
				t.Fatalf("disconnect: %d %v", status, out)
			}
			for _, c := range []*conn{here, there} {
				if code := c.closeCode(); code != 4321 {
					t.Fatalf("closed with %d, want 4321", code)
				}
			}
			bystander.call("ping", nil, nil)
			eventually(t, "node 2's audit line naming node 1's call", func() bool {
				return strings.Contains(nodes[1].logText(), `"event":"api_disconnect"`) &&
					strings.Contains(nodes[1].logText(), `"origin":"`)
			})
		})
	}
}
