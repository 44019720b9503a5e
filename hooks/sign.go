package hooks

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a hook request.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>".
	SignatureHeader = "Rampart-Signature"
	// HookHeader names the hook: connect, subscribe, publish or notify.
	HookHeader = "Rampart-Hook"
)

// Window is how far a request's timestamp may be from the verifier's
// clock, either way: an older request is refused as a possible replay.
const Window = 5 * time.Minute

// MaxBodyBytes is the largest body Verify reads.
const MaxBodyBytes = 1 << 20

// MinKeyBytes is the shortest signing key Rampart accepts.
const MinKeyBytes = 32

// The reasons Verify refuses a request; test them with errors.Is.
var (
	ErrNoSignature  = errors.New("hooks: no valid Rampart-Signature header")
	ErrBadSignature = errors.New("hooks: signature does not match")
	ErrExpired      = errors.New("hooks: timestamp outside the replay window")
	ErrTooLarge     = errors.New("hooks: body too large")
)

// Sign returns the Rampart-Signature value for body sent at t.
func Sign(key, body []byte, t time.Time) string {
	return SignKeys([][]byte{key}, body, t)
}

// SignKeys returns the Rampart-Signature value for body sent at t with one
// v1 value per key, in order, empty keys skipped: while a key is rotated,
// the server signs with the new key and the one being retired, and a
// backend verifies with whichever it has (VerifySignature accepts the
// header when any v1 value matches its key).
func SignKeys(keys [][]byte, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	out := "t=" + ts
	for _, k := range keys {
		if len(k) > 0 {
			out += ",v1=" + hex.EncodeToString(mac(k, ts, body))
		}
	}
	return out
}

func mac(key []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifySignature checks header (a Rampart-Signature value) against body
// and key at the time now: the timestamp within Window of now, and one of
// its v1 values the HMAC-SHA256 of "<t>.<body>" (compared in constant
// time).
func VerifySignature(header string, body, key []byte, now time.Time) error {
	ts, sigs, ok := parseHeader(header)
	if !ok {
		return ErrNoSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 {
		return ErrNoSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Window || d < -Window {
		return ErrExpired
	}
	want := mac(key, ts, body)
	for _, s := range sigs {
		if !lowerHex(s) {
			continue // only the form Sign writes: one header, one meaning
		}
		if got, err := hex.DecodeString(s); err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrBadSignature
}

// lowerHex reports whether s is 64 lowercase hexadecimal digits, as Sign
// writes an HMAC-SHA256.
func lowerHex(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// parseHeader splits "t=...,v1=...[,v1=...]" (at most 8 parts).
func parseHeader(h string) (ts string, sigs []string, ok bool) {
	parts := strings.Split(h, ",")
	if len(h) > 1024 || len(parts) > 8 {
		return "", nil, false
	}
	for _, p := range parts {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	return ts, sigs, ts != "" && len(sigs) > 0
}

// Verify reads r's body (at most MaxBodyBytes) and checks its signature
// with key. It returns the body, and leaves r.Body readable again from the
// start, so a handler after it can decode it.
func Verify(r *http.Request, key []byte) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("hooks: reading the body: %w", err)
	}
	if len(body) > MaxBodyBytes {
		return nil, ErrTooLarge
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := VerifySignature(r.Header.Get(SignatureHeader), body, key, time.Now()); err != nil {
		return nil, err
	}
	return body, nil
}

// Middleware answers 401 to a request whose signature Verify refuses (413
// to one too large) and passes the others to next, body intact.
func Middleware(key []byte, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := Verify(r, key); err != nil {
			status := http.StatusUnauthorized
			if errors.Is(err, ErrTooLarge) {
				status = http.StatusRequestEntityTooLarge
			}
			http.Error(w, http.StatusText(status), status)
			return
		}
		next.ServeHTTP(w, r)
	})
}
