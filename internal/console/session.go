package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// session is one admin's login.
type session struct {
	admin   string // who logged in: "key:<fingerprint>" or "token:<subject>"
	csrf    string // sent back in X-Rampart-CSRF on every state-changing request
	expires time.Time
}

// sessions is the server-side session store, bounded: a login beyond max
// ends the session closest to its end. The cookie holds a random id; the
// store keeps only the id's SHA-256, so a lookup compares no secret.
type sessions struct {
	mu  sync.Mutex // guards m
	m   map[[sha256.Size]byte]*session
	now func() time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{m: make(map[[sha256.Size]byte]*session), now: now}
}

// create starts a session for admin and returns its id (the cookie's
// value) and the session.
func (s *sessions) create(admin string, ttl time.Duration, max int) (string, *session) {
	id := randomToken()
	ss := &session{admin: admin, csrf: randomToken(), expires: s.now().Add(ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	for len(s.m) >= max {
		s.evictLocked()
	}
	s.m[sha256.Sum256([]byte(id))] = ss
	return id, ss
}

// get returns the live session of id, or nil.
func (s *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[k]
	if ss != nil && !s.now().Before(ss.expires) {
		delete(s.m, k)
		return nil
	}
	return ss
}

// end removes the session of id.
func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sha256.Sum256([]byte(id)))
}

// count returns how many sessions are kept.
func (s *sessions) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *sessions) sweepLocked() {
	now := s.now()
	for k, ss := range s.m {
		if !now.Before(ss.expires) {
			delete(s.m, k)
		}
	}
}

func (s *sessions) evictLocked() {
	var oldest [sha256.Size]byte
	var first *session
	for k, ss := range s.m {
		if first == nil || ss.expires.Before(first.expires) {
			oldest, first = k, ss
		}
	}
	delete(s.m, oldest)
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Cookie names: on TLS the __Host- prefix binds the cookie to this host,
// path / and Secure.
const (
	cookieName    = "rampart_console"
	cookieNameTLS = "__Host-rampart_console"
)

func cookieNameFor(r *http.Request) string {
	if r.TLS != nil {
		return cookieNameTLS
	}
	return cookieName
}

// sessionCookie is the cookie carrying id for ttl.
func sessionCookie(r *http.Request, id string, ttl time.Duration) *http.Cookie {
	return &http.Cookie{
		Name: cookieNameFor(r), Value: id, Path: "/", MaxAge: int(ttl / time.Second),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	}
}

// clearedCookie removes the session cookie.
func clearedCookie(r *http.Request) *http.Cookie {
	return &http.Cookie{
		Name: cookieNameFor(r), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	}
}

// sessionID is the session cookie's value in r, or "".
func sessionID(r *http.Request) string {
	c, err := r.Cookie(cookieNameFor(r))
	if err != nil {
		return ""
	}
	return c.Value
}

// equal compares two secrets in constant time; empty never matches.
func equal(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// sameOrigin reports whether r comes from the console's own page: its
// Origin, when sent, is this host with r's scheme, and its Sec-Fetch-Site,
// when sent, is same-origin. A request with neither is refused: every
// browser sends one of them on a POST and on a WebSocket handshake.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Values("Origin")
	site := r.Header.Get("Sec-Fetch-Site")
	if len(origin) == 0 && site == "" || len(origin) > 1 {
		return false
	}
	if site != "" && site != "same-origin" {
		return false
	}
	if len(origin) == 1 {
		scheme := "http://"
		if r.TLS != nil {
			scheme = "https://"
		}
		return origin[0] == scheme+r.Host
	}
	return true
}
