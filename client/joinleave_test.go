package client_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/client"
	"github.com/rampart-rt/rampart/policy"
)

// presenceLog records what OnJoin, OnLeave and OnPresenceChanged see.
type presenceLog struct {
	mu     sync.Mutex
	events []string // "join user", "leave user", "changed"
}

func (l *presenceLog) add(kind string, es []client.PresenceEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if es == nil {
		l.events = append(l.events, kind)
	}
	for _, e := range es {
		l.events = append(l.events, kind+" "+e.User+"/"+e.Client)
	}
}

func (l *presenceLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

func (l *presenceLog) options() []client.SubscribeOption {
	return []client.SubscribeOption{
		client.OnJoin(func(es []client.PresenceEntry) { l.add("join", es) }),
		client.OnLeave(func(es []client.PresenceEntry) { l.add("leave", es) }),
		client.OnPresenceChanged(func() { l.add("changed", nil) }),
	}
}

// waitFor waits until the log holds event, and returns how many came
// before it.
func (l *presenceLog) waitFor(t *testing.T, event string) int {
	t.Helper()
	at := -1
	eventually(t, event, func() bool {
		at = slices.Index(l.snapshot(), event)
		return at >= 0
	})
	return at
}

// TestJoinLeave: the Go client's OnJoin and OnLeave hear others subscribe
// and leave (with user and client id), never itself; a client whose roles
// may not read presence hears nothing; OnPresenceChanged when more than
// the cap changed at once.
func TestJoinLeave(t *testing.T) {
	srv := startServer(t, func(cfg *rampart.Config) {
		cfg.Channels = append(cfg.Channels, policy.Rule{Pattern: "room:*", Subscribe: []string{"*"}, Presence: true,
			JoinLeave: true, PresenceRoles: []string{"member"}})
		cfg.Limits.JoinLeaveWindow, cfg.Limits.JoinLeaveMaxClients = 20*time.Millisecond, 3
	})
	ctx := ctxFor(t)
	member := func(sub string) *client.Client {
		return srv.dial(t, sub, client.Config{Token: staticToken(mint(t, sub, time.Hour, "member"))})
	}
	watcher, ann := member("watcher"), member("ann")
	guest := srv.dial(t, "guest", client.Config{})
	var wlog, alog, glog presenceLog
	for _, s := range []struct {
		c   *client.Client
		log *presenceLog
	}{{guest, &glog}, {watcher, &wlog}} {
		if _, err := s.c.Subscribe(ctx, "room:1", func(client.Publication) {}, s.log.options()...); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := ann.Subscribe(ctx, "room:1", func(client.Publication) {}, alog.options()...)
	if err != nil {
		t.Fatal(err)
	}
	annID := "ann/" + ann.Welcome().Client
	wlog.waitFor(t, "join "+annID)
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	before := wlog.waitFor(t, "leave "+annID) + 1
	many := make([]*client.Client, 6)
	for i := range many {
		many[i] = member(fmt.Sprint("m", i))
	}
	for _, c := range many {
		if _, err := c.Subscribe(ctx, "room:1", func(client.Publication) {}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "every join or presence_changed", func() bool {
		n, changed := 0, false
		for _, e := range wlog.snapshot()[before:] {
			changed = changed || e == "changed"
			n++
		}
		return changed || n == len(many)
	})
	if err := guest.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if got := glog.snapshot(); len(got) != 0 {
		t.Fatalf("guest, who may not read presence, heard %v", got)
	}
	for _, e := range alog.snapshot() {
		if strings.HasSuffix(e, annID) {
			t.Fatalf("ann heard %q of herself", e)
		}
	}
}
