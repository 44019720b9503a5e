package rampart

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/policy"
)

// joinLeaveRules: on room:*, anyone may subscribe but only members read
// presence; on lobby:*, every subscriber does.
var joinLeaveRules = []policy.Rule{
	{Pattern: "room:*", Subscribe: []string{"*"}, Publish: []string{"*"}, Presence: true, JoinLeave: true, PresenceRoles: []string{"member"}},
	{Pattern: "lobby:*", Subscribe: []string{"*"}, Presence: true, JoinLeave: true},
	{Pattern: "quiet:*", Subscribe: []string{"*"}, Presence: true},
}

func startJoinLeaveServer(t *testing.T, edit func(*Config)) *testServer {
	t.Helper()
	return startServer(t, func(c *Config) {
		c.Channels = joinLeaveRules
		c.Limits.JoinLeaveWindow = 20 * time.Millisecond
		if edit != nil {
			edit(c)
		}
	})
}

// joinLeave is a join, leave or presence_changed push.
type joinLeave struct {
	Push    string `json:"push"`
	Channel string `json:"channel"`
	Clients []struct {
		User   string `json:"user"`
		Client string `json:"client"`
	} `json:"clients"`
}

func isJoinLeave(m message) bool {
	return m.Push == "join" || m.Push == "leave" || m.Push == "presence_changed"
}

func decodeJoinLeave(t *testing.T, m message) joinLeave {
	t.Helper()
	var jl joinLeave
	if err := json.Unmarshal(m.raw, &jl); err != nil {
		t.Fatalf("push %s: %v", m.raw, err)
	}
	return jl
}

// nextJoinLeave returns c's next join, leave or presence_changed push,
// skipping others.
func (c *client) nextJoinLeave() joinLeave {
	c.t.Helper()
	for {
		if m := c.nextPush(); isJoinLeave(m) {
			return decodeJoinLeave(c.t, m)
		}
	}
}

// expectJoinLeave reads c's join and leave pushes until one of kind push
// on channel lists every client of want, and fails if one names c itself.
// Others may come first (or in the same push): a client's own join and the
// next one's can fall into one window.
func (c *client) expectJoinLeave(push, channel string, want ...*client) {
	c.t.Helper()
	for {
		jl := c.nextJoinLeave()
		c.notSelf(jl)
		if jl.Push != push || jl.Channel != channel {
			continue
		}
		found := 0
		for _, w := range want {
			for _, e := range jl.Clients {
				if e.Client == w.welcome.Client && e.User == w.welcome.User {
					found++
				}
			}
		}
		if found == len(want) {
			return
		}
	}
}

// notSelf fails if jl names c.
func (c *client) notSelf(jl joinLeave) {
	c.t.Helper()
	for _, e := range jl.Clients {
		if e.Client == c.welcome.Client {
			c.t.Fatalf("%s heard of itself: %+v", c.welcome.User, jl)
		}
	}
}

// settled waits until every join and leave heard has been pushed, then
// returns the join and leave pushes c got by then (others are dropped).
func (s *testServer) settled(t *testing.T, c *client) []joinLeave {
	t.Helper()
	waitFor(t, "join and leave pushes flushed", s.s.joinLeave.Idle)
	var out []joinLeave
	for _, m := range c.barrier() {
		if isJoinLeave(m) {
			out = append(out, decodeJoinLeave(t, m))
		}
	}
	return out
}

// TestJoinLeavePushes: a member watching room:1 hears each client that
// subscribes and leaves (by unsubscribe or by closing), with user and
// client id; the client itself never hears its own join or leave.
func TestJoinLeavePushes(t *testing.T) {
	s := startJoinLeaveServer(t, nil)
	watcher := s.dial(t, token(t, "watcher", "member"))
	watcher.subscribe("room:1")
	ann := s.dial(t, token(t, "ann", "member"))
	ann.subscribe("room:1")
	watcher.expectJoinLeave("join", "room:1", ann)
	for _, jl := range s.settled(t, ann) { // the watcher's join may come, in one window with hers
		ann.notSelf(jl)
	}
	ben := s.dial(t, token(t, "ben", "member"))
	ben.subscribe("room:1")
	watcher.expectJoinLeave("join", "room:1", ben)
	ann.expectJoinLeave("join", "room:1", ben)
	ann.ok("unsubscribe", `"channel":"room:1"`)
	watcher.expectJoinLeave("leave", "room:1", ann)
	ben.expectJoinLeave("leave", "room:1", ann)
	_ = ben.ws.Close()
	watcher.expectJoinLeave("leave", "room:1", ben)
	if got := s.settled(t, ann); len(got) != 0 {
		t.Fatalf("ann heard %+v after she left, want nothing", got)
	}
}

// TestJoinLeaveNoLeak: a subscriber whose roles may subscribe but not read
// presence gets no join or leave push (and its presence command is
// refused), while a member beside it hears them; a channel without
// join_leave pushes nothing to anyone.
func TestJoinLeaveNoLeak(t *testing.T) {
	s := startJoinLeaveServer(t, nil)
	guest := s.dial(t, token(t, "guest"))
	guest.subscribe("room:1")
	guest.subscribe("quiet:1")
	guest.fails("presence", `"channel":"room:1"`, "forbidden")
	member := s.dial(t, token(t, "member", "member"))
	member.subscribe("room:1")
	member.subscribe("quiet:1")
	ann := s.dial(t, token(t, "ann", "member"))
	ann.subscribe("room:1")
	ann.subscribe("quiet:1")
	member.expectJoinLeave("join", "room:1", ann)
	ann.ok("unsubscribe", `"channel":"room:1"`)
	ann.ok("unsubscribe", `"channel":"quiet:1"`)
	member.expectJoinLeave("leave", "room:1", ann)
	if got := s.settled(t, guest); len(got) != 0 {
		t.Fatalf("guest, who may not read presence, heard %+v", got)
	}
	if got := s.settled(t, member); len(got) != 0 {
		t.Fatalf("member heard %+v on a channel without join_leave", got)
	}
	var pr struct {
		Clients []struct{ User string } `json:"clients"`
	}
	if err := json.Unmarshal(member.ok("presence", `"channel":"room:1"`), &pr); err != nil || len(pr.Clients) != 2 {
		t.Fatalf("member's presence of room:1: %+v, %v", pr, err)
	}
}

// TestJoinLeaveMassReconnect: 200 clients subscribe in one burst, then all
// drop at once. A watcher gets at most one leave and one join push (or one
// presence_changed) per window, never more than a push lists, and learns
// of every client or is told to fetch presence again.
func TestJoinLeaveMassReconnect(t *testing.T) {
	const n, window, maxClients = 200, 250 * time.Millisecond, 100
	s := startJoinLeaveServer(t, func(c *Config) {
		c.Limits.JoinLeaveWindow, c.Limits.JoinLeaveMaxClients = window, maxClients
	})
	watcher := s.dial(t, token(t, "watcher"))
	watcher.subscribe("lobby:mass")
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = s.dial(t, token(t, fmt.Sprintf("u%d", i)))
	}
	start := time.Now()
	for i, c := range clients {
		c.send(fmt.Sprintf(`{"id":%d,"action":"subscribe","channel":"lobby:mass"}`, i+1))
	}
	for _, c := range clients {
		if m := c.readNet(); m.Error != nil || m.Result == nil {
			t.Fatalf("subscribe: %s", m.raw)
		}
	}
	joins := s.settled(t, watcher)
	checkBurst(t, "join", joins, n, time.Since(start), window, maxClients)

	start = time.Now()
	for _, c := range clients {
		_ = c.ws.Close()
	}
	waitFor(t, "every client gone", func() bool { return s.s.Connections() == 1 })
	leaves := s.settled(t, watcher)
	checkBurst(t, "leave", leaves, n, time.Since(start), window, maxClients)
}

// checkBurst checks the pushes a burst of n joins or leaves came as.
func checkBurst(t *testing.T, kind string, pushes []joinLeave, n int, elapsed, window time.Duration, maxClients int) {
	t.Helper()
	// Batches are at least a window apart, so within elapsed there were at
	// most elapsed/window + 1 of them, each a single push of one kind.
	bound := int(elapsed/window) + 1
	listed, changed := map[string]bool{}, 0
	for _, p := range pushes {
		switch {
		case p.Push == "presence_changed":
			changed++
		case p.Push != kind:
			t.Fatalf("a %s push in a burst of %ss: %+v", p.Push, kind, p)
		case len(p.Clients) > maxClients:
			t.Fatalf("a push lists %d clients, cap %d", len(p.Clients), maxClients)
		}
		for _, c := range p.Clients {
			if listed[c.Client] {
				t.Fatalf("client %s listed twice", c.Client)
			}
			listed[c.Client] = true
		}
	}
	if len(pushes) > bound {
		t.Fatalf("%d pushes for %d %ss over %v (window %v): bound %d", len(pushes), n, kind, elapsed, window, bound)
	}
	if changed == 0 && len(listed) != n {
		t.Fatalf("%d of %d %ss listed, and no presence_changed", len(listed), n, kind)
	}
	t.Logf("%d %ss in %v: %d pushes (bound %d), %d clients listed, %d presence_changed", n, kind, elapsed.Round(time.Millisecond),
		len(pushes), bound, len(listed), changed)
}

// TestJoinLeaveConfig: join_leave and presence_roles without presence are
// refused with the key that says so.
func TestJoinLeaveConfig(t *testing.T) {
	for _, r := range []policy.Rule{
		{Pattern: "a:*", Subscribe: []string{"*"}, JoinLeave: true},
		{Pattern: "a:*", Subscribe: []string{"*"}, PresenceRoles: []string{"member"}},
	} {
		cfg := baseConfig()
		cfg.Channels = []policy.Rule{r}
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), "channels[0].") || !strings.Contains(err.Error(), "needs presence: true") {
			t.Fatalf("New with %+v: %v", r, err)
		}
	}
	cfg := baseConfig()
	cfg.Limits.JoinLeaveWindow = time.Millisecond
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "limits.join_leave_window") {
		t.Fatalf("New with a 1ms window: %v", err)
	}
}

// TestJoinLeaveEventsCheckedWhereHeard: an event the broker carries for a
// channel whose rule here does not ask for join_leave (a node with another
// configuration, a broken broker) is dropped by the node that hears it;
// one for a join_leave channel is pushed.
func TestJoinLeaveEventsCheckedWhereHeard(t *testing.T) {
	s := startJoinLeaveServer(t, nil)
	c := s.dial(t, token(t, "watcher"))
	c.subscribe("quiet:1")
	c.subscribe("lobby:1")
	ctx := t.Context()
	for _, ch := range []string{"quiet:1", "nope:1", "lobby:1"} {
		e := broker.PresenceEvent{Channel: ch, Entry: broker.PresenceEntry{User: "ghost", Client: "g-" + ch}}
		if err := s.s.events.PublishPresenceEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got := s.settled(t, c)
	if len(got) != 1 || got[0].Channel != "lobby:1" || len(got[0].Clients) != 1 || got[0].Clients[0].Client != "g-lobby:1" {
		t.Fatalf("pushes %+v, want only the join on lobby:1", got)
	}
	if _, _, body := scrape(t, s.ts.URL, ""); !strings.Contains(body, "\nrampart_join_leave_pushes_total{push=\"join\"} 1\n") {
		t.Fatalf("metrics do not count the one join push:\n%s", body)
	}
}

// TestJoinLeaveFollowsReload: a reload that narrows presence_roles stops
// join and leave pushes to the subscribers it leaves out at once, without
// ending their subscription.
func TestJoinLeaveFollowsReload(t *testing.T) {
	s := startJoinLeaveServer(t, nil)
	guest := s.dial(t, token(t, "guest"))
	guest.subscribe("lobby:1")
	member := s.dial(t, token(t, "member", "member"))
	member.subscribe("lobby:1")
	guest.expectJoinLeave("join", "lobby:1", member)

	cfg := baseConfig()
	cfg.Limits.JoinLeaveWindow = 20 * time.Millisecond
	cfg.Channels = slices.Clone(joinLeaveRules)
	cfg.Channels[1].PresenceRoles = []string{"member"}
	if err := s.s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	ben := s.dial(t, token(t, "ben"))
	ben.subscribe("lobby:1")
	member.expectJoinLeave("join", "lobby:1", ben)
	waitFor(t, "join and leave pushes flushed", s.s.joinLeave.Idle)
	if got := guest.barrier(); len(got) != 0 { // neither a join nor an unsubscribe
		t.Fatalf("guest, left out by the reload, got %s", got[0].raw)
	}
	guest.fails("presence", `"channel":"lobby:1"`, "forbidden")
	guest.fails("subscribe", `"channel":"lobby:1"`, "already_subscribed") // still subscribed
}
