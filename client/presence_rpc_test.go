package client_test

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/client"
	"github.com/rampart-rt/rampart/policy"
	"github.com/rampart-rt/rampart/protocol"
)

func TestPresence(t *testing.T) {
	srv := startServer(t, func(cfg *rampart.Config) {
		cfg.Channels = append(cfg.Channels, policy.Rule{Pattern: "room:*", Subscribe: []string{"*"}, Presence: true})
	})
	ctx := ctxFor(t)
	alice := srv.dial(t, "alice", client.Config{})
	bob := srv.dial(t, "bob", client.Config{})
	for _, c := range []*client.Client{alice, bob} {
		if _, err := c.Subscribe(ctx, "room:1", func(client.Publication) {}); err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
	}
	var got []client.PresenceEntry
	eventually(t, "both in presence", func() bool {
		var err error
		got, err = alice.Presence(ctx, "room:1")
		if err != nil {
			t.Fatalf("Presence: %v", err)
		}
		return len(got) == 2
	})
	want := []client.PresenceEntry{
		{User: "alice", Client: alice.Welcome().Client},
		{User: "bob", Client: bob.Welcome().Client},
	}
	slices.SortFunc(got, func(a, b client.PresenceEntry) int { return cmp.Compare(a.User, b.User) })
	if !slices.Equal(got, want) {
		t.Fatalf("Presence = %+v, want %+v", got, want)
	}
	_, err := alice.Presence(ctx, "chat:1") // the rule keeps no presence
	if e := (*client.Error)(nil); !errors.As(err, &e) || e.Code != protocol.CodeNotFound {
		t.Fatalf("Presence where none is kept: %v, want not_found", err)
	}
}

func TestRPC(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Method string          `json:"method"`
			Data   json.RawMessage `json:"data"`
			User   string          `json:"user"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"user": req.User, "echo": req.Data}})
	}))
	t.Cleanup(backend.Close)
	srv := startServer(t, func(cfg *rampart.Config) {
		cfg.RPC = rampart.RPC{URL: backend.URL, Methods: map[string][]string{"echo": {"*"}, "purge": {"admin"}}}
	})
	c := srv.dial(t, "alice", client.Config{})
	ctx := ctxFor(t)
	var out struct {
		User string `json:"user"`
		Echo struct {
			X int `json:"x"`
		} `json:"echo"`
	}
	if err := c.RPC(ctx, "echo", map[string]int{"x": 7}, &out); err != nil {
		t.Fatalf("RPC: %v", err)
	}
	if out.User != "alice" || out.Echo.X != 7 {
		t.Fatalf("RPC answer = %+v", out)
	}
	if err := c.RPC(ctx, "echo", nil, nil); err != nil {
		t.Fatalf("RPC without data: %v", err)
	}
	tests := []struct {
		method string
		code   protocol.Code
	}{{"purge", protocol.CodeForbidden}, {"nope", protocol.CodeNotFound}}
	for _, tt := range tests {
		err := c.RPC(ctx, tt.method, nil, nil)
		if e := (*client.Error)(nil); !errors.As(err, &e) || e.Code != tt.code || e.RequestID == "" {
			t.Fatalf("RPC %s: %v, want %s", tt.method, err, tt.code)
		}
	}
}
