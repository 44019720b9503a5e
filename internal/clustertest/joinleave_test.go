package clustertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rampart-rt/rampart/internal/wstest"
)

// joinLeaveConfig: on room:*, anyone may subscribe but only members read
// presence and hear joins and leaves.
func joinLeaveConfig(brokerYAML string) string {
	return fmt.Sprintf(`listen: "127.0.0.1:0"
origins: { allow: [], allow_missing: true }
auth: { algorithms: [HS256], hmac_secret_env: RAMPART_JWT_SECRET }
limits:
  max_connections_per_ip: 1000
  max_connections_per_user: 1000
  handshakes_per_ip_per_minute: 100000
  messages_per_minute: 600000
  burst: 10000
  join_leave_window: %s
  join_leave_max_clients: 100
channels:
  - pattern: "room:*"
    subscribe: ["*"]
    presence: true
    join_leave: true
    presence_roles: [member]
broker: %s
log: { format: json, level: info }
`, jlWindow, brokerYAML)
}

const jlWindow = 250 * time.Millisecond

// dialRoles is dial with a token that carries roles.
func dialRoles(t *testing.T, nd *node, user string, roles ...string) *conn {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user, "roles": roles, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	req := wstest.NewRequest("/ws")
	req.Header.Set("Sec-WebSocket-Protocol", "rampart.v1")
	req.Header.Set("Authorization", "Bearer "+tok)
	ws, resp, err := wstest.Dial(t.Context(), nd.addr, req, wstest.Options{})
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("dial %s as %s: %v", nd.name, user, err)
	}
	c := &conn{t: t, ws: ws}
	t.Cleanup(func() { _ = ws.Close() })
	if f := c.read(); f.Push != "welcome" {
		t.Fatalf("first frame %+v, want the welcome", f)
	}
	return c
}

// jlPush is a join, leave or presence_changed push.
type jlPush struct {
	Push    string `json:"push"`
	Channel string `json:"channel"`
	Clients []struct {
		User   string `json:"user"`
		Client string `json:"client"`
	} `json:"clients"`
}

// nextJoinLeave reads c's frames until a join, leave or presence_changed
// push, skipping others.
func (c *conn) nextJoinLeave() jlPush {
	c.t.Helper()
	for {
		_, msg, err := c.ws.ReadMessage(waitFor)
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		var p jlPush
		if err := json.Unmarshal(msg, &p); err != nil {
			c.t.Fatalf("frame %s: %v", msg, err)
		}
		if p.Push == "join" || p.Push == "leave" || p.Push == "presence_changed" {
			return p
		}
	}
}

// pushesBeforePong pings and returns the join, leave and presence_changed
// pushes that came before the reply.
func (c *conn) pushesBeforePong() []jlPush {
	c.t.Helper()
	if err := c.ws.WriteText(`{"id":999999,"action":"ping"}`); err != nil {
		c.t.Fatal(err)
	}
	var out []jlPush
	for {
		_, msg, err := c.ws.ReadMessage(waitFor)
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		var f struct {
			ID int `json:"id"`
			jlPush
		}
		if err := json.Unmarshal(msg, &f); err != nil {
			c.t.Fatalf("frame %s: %v", msg, err)
		}
		switch {
		case f.ID == 999999:
			return out
		case f.Push == "join" || f.Push == "leave" || f.Push == "presence_changed":
			out = append(out, f.jlPush)
		}
	}
}

// TestJoinLeaveAcrossNodes: over Redis and over NATS, a member on one node
// hears a client on the other node join and leave, with its user and
// client id; a subscriber beside it that may not read presence hears
// nothing; a burst of 100 joins spread over both nodes reaches the member
// as a bounded number of pushes.
func TestJoinLeaveAcrossNodes(t *testing.T) {
	t.Parallel()
	for name, brokerYAML := range brokerKinds() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			nodes := startNodes(t, 2, joinLeaveConfig(brokerYAML(t)))
			const ch = "room:jl"
			watcher := dialRoles(t, nodes[0], "watcher", "member")
			watcher.subscribe(ch, nil)
			guest := dialRoles(t, nodes[0], "guest")
			guest.subscribe(ch, nil)
			ann := dialRoles(t, nodes[1], "ann", "member")
			ann.subscribe(ch, nil)

			// The guest's join may come in the same push: the guest is
			// there for those who may read presence.
			var annClient string
			for annClient == "" {
				p := watcher.nextJoinLeave()
				if p.Push != "join" || p.Channel != ch {
					t.Fatalf("watcher got %+v, want joins", p)
				}
				for _, e := range p.Clients {
					if e.User == "ann" {
						annClient = e.Client
					}
				}
			}
			ann.call("unsubscribe", map[string]any{"channel": ch}, nil)
			p := watcher.nextJoinLeave()
			if p.Push != "leave" || len(p.Clients) != 1 || p.Clients[0].User != "ann" || p.Clients[0].Client != annClient {
				t.Fatalf("watcher got %+v, want the leave of ann (%s)", p, annClient)
			}
			if got := guest.pushesBeforePong(); len(got) != 0 {
				t.Fatalf("guest, who may not read presence, got %+v", got)
			}
			burstAcrossNodes(t, nodes, watcher, ch)
		})
	}
}

// burstAcrossNodes: 100 members join at once, half on each node; the
// watcher gets joins at most one push per window, and all 100 clients or
// a presence_changed.
func burstAcrossNodes(t *testing.T, nodes []*node, watcher *conn, ch string) {
	t.Helper()
	const n = 100
	conns := make([]*conn, n)
	for i := range conns {
		conns[i] = dialRoles(t, nodes[i%2], fmt.Sprint("m", i), "member")
	}
	start := time.Now()
	for i, c := range conns {
		if err := c.ws.WriteText(fmt.Sprintf(`{"id":%d,"action":"subscribe","channel":%q}`, i+1, ch)); err != nil {
			t.Fatal(err)
		}
	}
	listed, pushes := map[string]bool{}, 0
	for len(listed) < n {
		p := watcher.nextJoinLeave()
		pushes++
		if p.Push == "presence_changed" {
			break
		}
		if p.Push != "join" {
			t.Fatalf("a %s push in a burst of joins: %+v", p.Push, p)
		}
		for _, e := range p.Clients {
			listed[e.Client] = true
		}
	}
	elapsed := time.Since(start)
	if bound := int(elapsed/jlWindow) + 1; pushes > bound {
		t.Fatalf("%d pushes for %d joins in %v: at most one per %v window allows %d", pushes, n, elapsed, jlWindow, bound)
	}
	t.Logf("%d joins over two nodes in %v: %d pushes, %d clients listed", n, elapsed.Round(time.Millisecond), pushes, len(listed))
}
