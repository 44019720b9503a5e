package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/config"
	"github.com/rampart-rt/rampart/internal/devtoken"
	"github.com/rampart-rt/rampart/policy"
	"github.com/rampart-rt/rampart/protocol"
	"github.com/rampart-rt/rampart/web"
)

// devMode is `rampart serve --dev`: loopback only, a secret kept across
// restarts in the dev state directory, a printed token, the demo page and
// a token endpoint for it.
type devMode struct {
	secret     []byte
	secretPath string // where the secret is kept
}

// newDevMode builds the dev configuration from the environment and flags
// (--listen; 127.0.0.1:8080 when not given), checked as a file would be,
// and loads (or makes) the secret kept in stateDir (--dev-state; empty:
// the default, see devStateDir).
func newDevMode(flags []config.Flag, stateDir string) (*devMode, *config.File, error) {
	// The address: --listen, else RAMPART_LISTEN, else 127.0.0.1:8080.
	where := "--listen"
	if !slices.ContainsFunc(flags, func(f config.Flag) bool { return f.Key == "listen" }) {
		where = config.EnvName("listen")
		if _, set := os.LookupEnv(where); !set {
			flags = append(flags, config.Flag{Name: "--listen", Key: "listen", Value: "127.0.0.1:8080"})
		}
	}
	// The environment still sets keys (a broker, say), not the secret: a
	// throwaway one lets the file's checks pass, and configure sets the
	// kept one.
	throwaway := make([]byte, 32)
	_, _ = rand.Read(throwaway)
	env := []string{"RAMPART_JWT_SECRET=" + hex.EncodeToString(throwaway)}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, config.EnvPrefix) && !strings.HasPrefix(kv, "RAMPART_JWT_SECRET=") {
			env = append(env, kv)
		}
	}
	f, err := config.Parse("dev", nil, env, flags...)
	if err != nil {
		return nil, nil, err
	}
	f.Log.Format = "text"
	if host, _, _ := splitHost(f.Listen); !config.Loopback(host) {
		return nil, nil, fmt.Errorf("%s: listen: %s is not a loopback address, and serve --dev listens only on loopback", where, f.Listen)
	}
	dir, err := devStateDir(stateDir)
	if err != nil {
		return nil, nil, err
	}
	d := new(devMode)
	if d.secret, d.secretPath, err = loadDevSecret(dir); err != nil {
		return nil, nil, err
	}
	return d, f, nil
}

// configure sets the dev rules: the demo's own origin, a chat with history
// and presence, and personal channels.
func (d *devMode) configure(cfg *rampart.Config, addr string) {
	cfg.Auth.HMACSecret = d.secret
	cfg.Origins.Allow = []string{"http://" + addr, "http://localhost:" + port(addr)}
	cfg.Origins.AllowMissing = true
	cfg.Pages = web.Handler()
	// Every dev client shares 127.0.0.1: per-IP limits sized for one person's
	// browser tabs and scripts, not for the internet.
	cfg.Limits.MaxConnectionsPerIP = 100
	cfg.Limits.HandshakesPerIPPerMin = 600
	cfg.Channels = []policy.Rule{
		{Pattern: "chat:*", Subscribe: []string{policy.RoleAny}, Publish: []string{policy.RoleAny},
			History: policy.History{Size: 100, TTL: 10 * time.Minute}, Presence: true},
		{Pattern: "user:{sub}", Subscribe: []string{policy.RoleSelf}, Publish: []string{policy.RoleSelf}},
	}
}

// handler adds GET /dev/token?user=NAME&ttl=SECONDS to the server, and
// answers only requests addressed to a loopback name.
func (d *devMode) handler(srv http.Handler) http.Handler {
	return loopbackOnly(d.routes(srv))
}

// loopbackOnly refuses (403) a request whose Host is not localhost,
// 127.0.0.0/8 or [::1] (any port). A page on another site that has its
// own name resolve to 127.0.0.1 (DNS rebinding) is same-origin with the dev
// server as far as the browser knows, but its requests still carry its
// own name: this is what keeps it from reading a token.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"error":"forbidden"}`+"\n")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names this machine's
// loopback: localhost, 127.0.0.0/8 or [::1], with any port or none.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Zone() == "" && a.IsLoopback()
}

func (d *devMode) routes(srv http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", srv)
	mux.HandleFunc("GET /dev/token", func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user")
		ttl := time.Hour
		if v := r.URL.Query().Get("ttl"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 86400 {
				http.Error(w, `{"error":"bad_request"}`, http.StatusBadRequest)
				return
			}
			ttl = time.Duration(n) * time.Second
		}
		if !protocol.ValidChannel(user) || len(user) > 64 {
			http.Error(w, `{"error":"bad_request"}`, http.StatusBadRequest)
			return
		}
		tok, err := devtoken.Mint(d.secret, devtoken.Claims{Sub: user, Roles: []string{"user"}, TTL: ttl})
		if err != nil {
			http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]string{"token": tok})
	})
	return mux
}

func (d *devMode) announce(w io.Writer, scheme, addr string) {
	tok, _ := devtoken.Mint(d.secret, devtoken.Claims{Sub: "dev", Roles: []string{"user"}, TTL: time.Hour})
	fmt.Fprintf(w, "rampart: dev server on %s://%s\n", scheme, addr)
	fmt.Fprintf(w, "demo: %s://%s/\n", scheme, addr)
	fmt.Fprintf(w, "token: %s\n", tok)
	// A client this repository has (the README's tour), not one the
	// machine may lack.
	fmt.Fprintf(w, "try: go run ./examples/chat -url ws://%s/ws -token %s\n", addr, tok)
	fmt.Fprintf(w, "secret: kept in %s across restarts, so tokens outlive one run; delete the file to rotate it\n", d.secretPath)
}
