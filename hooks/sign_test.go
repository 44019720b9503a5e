package hooks_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/hooks"
)

var key = []byte("a-signing-key-of-at-least-32-bytes-long")

// Middleware passes a request signed with the key, body intact, and
// answers 401 to a tampered body, an old or future timestamp, a wrong key
// or a missing signature, over a real HTTP connection.
func TestMiddleware(t *testing.T) {
	var got []byte
	ts := httptest.NewServer(hooks.Middleware(key, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	})))
	defer ts.Close()
	body := []byte(`{"user":"alice"}`)
	now := time.Now()
	cases := []struct {
		name   string
		body   []byte
		header string
		status int
	}{
		{"signed", body, hooks.Sign(key, body, now), 200},
		{"tampered body", []byte(`{"user":"admin"}`), hooks.Sign(key, body, now), 401},
		{"old timestamp", body, hooks.Sign(key, body, now.Add(-hooks.Window-time.Minute)), 401},
		{"future timestamp", body, hooks.Sign(key, body, now.Add(hooks.Window+time.Minute)), 401},
		{"wrong key", body, hooks.Sign([]byte("another-key-of-at-least-32-bytes-long!!"), body, now), 401},
		{"no signature", body, "", 401},
		{"garbage", body, "t=x,v1=zz", 401},
		{"the signature in capitals", body, capitalHex(hooks.Sign(key, body, now)), 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got = nil
			req, _ := http.NewRequest(http.MethodPost, ts.URL, bytes.NewReader(c.body))
			if c.header != "" {
				req.Header.Set(hooks.SignatureHeader, c.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			if c.status == 200 && !bytes.Equal(got, c.body) {
				t.Fatalf("the handler read %q, want the body", got)
			}
		})
	}
}

func TestVerifySignatureReasons(t *testing.T) {
	body, now := []byte("{}"), time.Unix(1_800_000_000, 0)
	h := hooks.Sign(key, body, now)
	if err := hooks.VerifySignature(h, body, key, now); err != nil {
		t.Fatal(err)
	}
	if err := hooks.VerifySignature(h, body, key, now.Add(hooks.Window+time.Second)); !errors.Is(err, hooks.ErrExpired) {
		t.Fatalf("old: %v", err)
	}
	if err := hooks.VerifySignature(h, []byte("{ }"), key, now); !errors.Is(err, hooks.ErrBadSignature) {
		t.Fatalf("tampered: %v", err)
	}
	rotated := h + ",v1=" + strings.Repeat("00", 32)
	if err := hooks.VerifySignature(rotated, body, key, now); err != nil {
		t.Fatalf("a second v1 value (key rotation) broke the first: %v", err)
	}
	if err := hooks.VerifySignature(strings.Repeat("v1=a,", 20)+"t=1", body, key, now); !errors.Is(err, hooks.ErrNoSignature) {
		t.Fatalf("a header of many parts: %v", err)
	}
	big := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(make([]byte, hooks.MaxBodyBytes+1)))
	if _, err := hooks.Verify(big, key); !errors.Is(err, hooks.ErrTooLarge) {
		t.Fatalf("a body over MaxBodyBytes: %v", err)
	}
}

// While a key is rotated, SignKeys signs with both: a backend verifies
// with either; with neither, it refuses; an empty key adds nothing.
func TestSignKeysForRotation(t *testing.T) {
	body, now := []byte(`{"user":"u"}`), time.Unix(1_800_000_000, 0)
	newKey, oldKey := []byte(strings.Repeat("n", 32)), []byte(strings.Repeat("o", 32))
	h := hooks.SignKeys([][]byte{newKey, oldKey}, body, now)
	if n := strings.Count(h, ",v1="); n != 2 {
		t.Fatalf("%q has %d v1 values, want 2", h, n)
	}
	for _, k := range [][]byte{newKey, oldKey} {
		if err := hooks.VerifySignature(h, body, k, now); err != nil {
			t.Fatalf("verifying with %q: %v", k[:1], err)
		}
	}
	if err := hooks.VerifySignature(h, body, []byte(strings.Repeat("x", 32)), now); !errors.Is(err, hooks.ErrBadSignature) {
		t.Fatalf("another key: %v", err)
	}
	if got, want := hooks.SignKeys([][]byte{newKey, nil}, body, now), hooks.Sign(newKey, body, now); got != want {
		t.Fatalf("an empty previous key: %q, want %q", got, want)
	}
}

// testdata/signed.json is a request Sign made, which the JavaScript
// helper's tests verify too: both sides agree on the same bytes.
func TestGoldenSignature(t *testing.T) {
	raw, err := os.ReadFile("testdata/signed.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Key, Body, Header string
		Time              int64
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if got := hooks.Sign([]byte(g.Key), []byte(g.Body), time.Unix(g.Time, 0)); got != g.Header {
		t.Fatalf("Sign gives %s, the golden file says %s", got, g.Header)
	}
	if err := hooks.VerifySignature(g.Header, []byte(g.Body), []byte(g.Key), time.Unix(g.Time, 0)); err != nil {
		t.Fatal(err)
	}
}

// capitalHex writes a header's v1 value in capitals: the same bytes, not
// the form Sign writes.
func capitalHex(header string) string {
	i := strings.Index(header, "v1=") + len("v1=")
	return header[:i] + strings.ToUpper(header[i:])
}

// FuzzVerifySignature: no header and body a sender without the key makes
// passes, and none panics.
func FuzzVerifySignature(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add(hooks.Sign(key, []byte("{}"), now), []byte("{}"))
	f.Add("t=1800000000,v1=,v1=00", []byte(""))
	f.Add("t=-1,v1=zz,t=2", []byte("x"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := hooks.VerifySignature(header, body, key, now)
		if err == nil && header != hooks.Sign(key, body, now) && !strings.Contains(header, hooks.Sign(key, body, now)[len("t=1800000000,"):]) {
			t.Fatalf("accepted %q for %q", header, body)
		}
	})
}
