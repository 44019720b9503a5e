// Command embed is an application that embeds Rampart in its own
// http.ServeMux: it logs its users in its own way (here, a password form
// and its own session cookie), hands each logged-in user a short-lived
// Rampart token for the WebSocket, and publishes from its own handlers
// with the server-side Go API, without going through HTTP.
//
//	RAMPART_JWT_SECRET=$(head -c 32 /dev/urandom | base64) go run ./examples/embed
//
// then log in (any name, password "demo"):
//
//	curl -c jar -d 'user=alice&password=demo' http://127.0.0.1:8081/login
//	curl -b jar http://127.0.0.1:8081/rampart-token
//	curl -b jar -d 'item=book' http://127.0.0.1:8081/orders
//
// A client connected with the token, subscribed to user:alice, receives
// {"order":"book","status":"received"} when the order is placed.
package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/policy"
)

// app is the application: its users, its sessions, and the Rampart server
// it embeds.
type app struct {
	rt       *rampart.Server
	secret   []byte // shared with rampart.Auth.HMACSecret: the app signs, Rampart verifies
	mu       sync.Mutex
	sessions map[string]string // session id -> user
}

// newApp builds the application around an embedded Rampart server.
func newApp(secret []byte, log *slog.Logger) (*app, error) {
	rt, err := rampart.New(rampart.Config{
		Origins: rampart.Origins{Allow: []string{"http://127.0.0.1:8081"}, AllowMissing: true},
		Auth:    rampart.Auth{HMACSecret: secret},
		Channels: []policy.Rule{
			// Each user hears about their own orders; only the server
			// publishes there.
			{Pattern: "user:{sub}", Subscribe: []string{policy.RoleSelf}, History: policy.History{Size: 20, TTL: time.Hour}},
		},
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	return &app{rt: rt, secret: secret, sessions: make(map[string]string)}, nil
}

// routes is the application's own mux, with Rampart's endpoint in it.
func (a *app) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/ws", a.rt) // the WebSocket endpoint (Config.Path, "/ws")
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("GET /rampart-token", a.token)
	mux.HandleFunc("POST /orders", a.order)
	return mux
}

// login is the application's own authentication.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	user := r.PostFormValue("user")
	if user == "" || subtle.ConstantTimeCompare([]byte(r.PostFormValue("password")), []byte("demo")) != 1 {
		http.Error(w, "wrong user or password", http.StatusUnauthorized)
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	sid := hex.EncodeToString(b)
	a.mu.Lock()
	a.sessions[sid] = user
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "sid", Value: sid, HttpOnly: true, SameSite: http.SameSiteStrictMode, Path: "/"})
	w.WriteHeader(http.StatusNoContent)
}

// user returns the session's user, or "".
func (a *app) user(r *http.Request) string {
	c, err := r.Cookie("sid")
	if err != nil {
		return ""
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions[c.Value]
}

// token hands the logged-in user a Rampart token valid for ten minutes;
// clients ask again when Rampart sends refresh_required.
func (a *app) token(w http.ResponseWriter, r *http.Request) {
	user := a.user(r)
	if user == "" {
		http.Error(w, "log in first", http.StatusUnauthorized)
		return
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user, "exp": time.Now().Add(10 * time.Minute).Unix(),
	}).SignedString(a.secret)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{"token": tok})
}

// order is one of the application's handlers: it does its work, then
// tells the user's connections through Rampart's Go API.
func (a *app) order(w http.ResponseWriter, r *http.Request) {
	user := a.user(r)
	if user == "" {
		http.Error(w, "log in first", http.StatusUnauthorized)
		return
	}
	data, _ := json.Marshal(map[string]string{"order": r.PostFormValue("item"), "status": "received"})
	_, err := a.rt.Publish(r.Context(), "user:"+user, data, rampart.PublishOptions{})
	switch {
	case errors.Is(err, rampart.ErrUnavailable):
		http.Error(w, "try again", http.StatusServiceUnavailable)
	case err != nil:
		http.Error(w, "internal error", http.StatusInternalServerError)
	default:
		w.WriteHeader(http.StatusAccepted)
	}
}

func main() {
	secret := []byte(os.Getenv("RAMPART_JWT_SECRET"))
	a, err := newApp(secret, slog.Default())
	if err != nil {
		log.Fatal(err) // e.g. a secret under 32 bytes, named with its key
	}
	hs := a.rt.HTTPServer() // Rampart's timeouts, the application's routes
	hs.Handler = a.routes()
	hs.Addr = "127.0.0.1:8081"
	go func() {
		if err := hs.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = hs.Shutdown(shut)
	_ = a.rt.Shutdown(shut)
}
