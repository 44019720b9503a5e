// Command hooks is an application backend that answers Rampart's hooks:
// it refuses banned users at connect and makes some users editors, lets a
// user subscribe only to the documents shared with them, tags each
// publication with the time the backend saw it, and keeps a log of
// connects and disconnects, counting each event once however often it is
// delivered. Every request's signature is checked first.
//
//	export RAMPART_HOOKS_KEY=$(head -c 32 /dev/urandom | base64)
//	go run ./examples/hooks                      # listens on 127.0.0.1:9100
//
// and, in the configuration of a Rampart server started with the same
// RAMPART_HOOKS_KEY:
//
//	hooks:
//	  connect:   { url: "http://127.0.0.1:9100/connect" }
//	  subscribe: { url: "http://127.0.0.1:9100/subscribe" }
//	  publish:   { url: "http://127.0.0.1:9100/publish" }
//	  notify:    { url: "http://127.0.0.1:9100/events" }
//	channels:
//	  - { pattern: "doc:*", subscribe: ["*"], publish: [editor], history: { size: 50 } }
package main

import (
	"encoding/json"
	"log"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rampart-rt/rampart/hooks"
)

func main() {
	key := []byte(os.Getenv("RAMPART_HOOKS_KEY"))
	if len(key) < hooks.MinKeyBytes {
		log.Fatalf("RAMPART_HOOKS_KEY must hold at least %d bytes", hooks.MinKeyBytes)
	}
	b := newBackend(slog.Default())
	srv := &http.Server{Addr: "127.0.0.1:9100", Handler: b.routes(key), ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// backend is the application's view: who is banned, who edits, which
// documents are shared with whom, and the events seen.
type backend struct {
	log     *slog.Logger
	banned  []string
	editors []string
	shared  map[string][]string // document -> users

	mu     sync.Mutex
	seen   map[string]bool // event ids, to count a redelivered event once
	online map[string]int  // user -> open connections
}

func newBackend(l *slog.Logger) *backend {
	return &backend{
		log:     l,
		banned:  []string{"mallory"},
		editors: []string{"alice"},
		shared:  map[string][]string{"doc:plan": {"alice", "bob"}, "doc:secret": {"alice"}},
		seen:    map[string]bool{},
		online:  map[string]int{},
	}
}

// routes checks every request's signature before any handler reads it.
func (b *backend) routes(key []byte) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /connect", handle(b.connect))
	mux.HandleFunc("POST /subscribe", handle(b.subscribe))
	mux.HandleFunc("POST /publish", handle(b.publish))
	mux.HandleFunc("POST /events", b.events)
	return hooks.Middleware(key, mux)
}

// handle decodes the hook's request, asks f, and writes its reply.
func handle[Req, Rep any](f func(Req) Rep) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(f(req))
	}
}

func (b *backend) connect(req hooks.ConnectRequest) hooks.ConnectReply {
	if slices.Contains(b.banned, req.User) {
		return hooks.ConnectReply{Result: hooks.Deny, Code: "forbidden"}
	}
	rep := hooks.ConnectReply{Result: hooks.Allow, Info: json.RawMessage(`{"plan":"free"}`)}
	if slices.Contains(b.editors, req.User) {
		rep.Roles = []string{"editor"}
	}
	return rep
}

func (b *backend) subscribe(req hooks.SubscribeRequest) hooks.SubscribeReply {
	if !strings.HasPrefix(req.Channel, "doc:") {
		return hooks.SubscribeReply{Result: hooks.Allow}
	}
	if slices.Contains(b.shared[req.Channel], req.User) {
		return hooks.SubscribeReply{Result: hooks.Allow}
	}
	return hooks.SubscribeReply{Result: hooks.Deny, Code: "not_found"} // do not tell that the document exists
}

func (b *backend) publish(req hooks.PublishRequest) hooks.PublishReply {
	var data any
	if err := json.Unmarshal(req.Data, &data); err != nil {
		return hooks.PublishReply{Result: hooks.Deny, Code: "bad_request"}
	}
	tagged, err := json.Marshal(map[string]any{"data": data, "by": req.User, "seen_at": time.Now().UTC().Format(time.RFC3339)})
	if err != nil {
		return hooks.PublishReply{Result: hooks.Deny, Code: "bad_request"}
	}
	return hooks.PublishReply{Result: hooks.Allow, Data: tagged}
}

// events counts connects and disconnects, each event id once: a
// notification is delivered at least once, so the same one may come again.
func (b *backend) events(w http.ResponseWriter, r *http.Request) {
	var ev hooks.Event
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || ev.ID == "" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	first := !b.seen[ev.ID]
	b.seen[ev.ID] = true
	if first && ev.Event == hooks.EventConnect {
		b.online[ev.User]++
	} else if first && ev.Event == hooks.EventDisconnect {
		b.online[ev.User]--
	}
	b.mu.Unlock()
	if first {
		b.log.Info("connection event", "event", ev.Event, "user", ev.User, "client", ev.Client, "code", ev.Code)
	}
	w.WriteHeader(http.StatusNoContent) // acknowledged, first time or not
}

// onlineCount returns the user's open connections as the events tell.
func (b *backend) onlineCount(user string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.online[user]
}
