package clientip

import (
	"net/http"
	"strings"
	"testing"
)

func FuzzClientIP(f *testing.F) {
	for _, s := range [][3]string{
		{"10.0.0.1:1", "1.2.3.4, 10.0.0.2", ""},
		{"10.0.0.1:1", "", `for="[2001:db8:cafe::17]:4711", for=unknown;proto=https`},
		{"10.0.0.1:1", "", `for=6.6.6.6;ext="a\",b", for=_hidden`},
		{"[::ffff:10.0.0.1]:1", "::ffff:1.2.3.4", `for="1.2.3.4:_p"`},
		{"203.0.113.9:1", "1.2.3.4", "for=1.2.3.4"},
		{"10.0.0.1:1", "1.2.3.4\n5.6.7.8", `for="\\"`},
	} {
		f.Add(s[0], s[1], s[2])
	}
	r, err := New([]string{"10.0.0.0/8", "fd00::/8"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, remote, xff, fwd string) {
		h := http.Header{}
		addLines(h, "X-Forwarded-For", xff)
		addLines(h, "Forwarded", fwd)
		got := r.ClientIP(remote, h)
		peer, ok := parsePeer(remote)
		switch {
		case !ok:
			if got.IsValid() {
				t.Fatalf("unparsable peer %q gave %v", remote, got)
			}
			return
		case !r.isTrusted(peer):
			if got != peer {
				t.Fatalf("untrusted peer %v: got %v", peer, got)
			}
			return
		}
		if !got.IsValid() || got.Is4In6() || got.Zone() != "" {
			t.Fatalf("got non-canonical %v", got)
		}
		if got != peer && len(h) == 0 {
			t.Fatalf("got %v without forwarding headers", got)
		}
		// What a client prepends cannot change an answer that came from
		// an untrusted hop: the walk stops before reaching it.
		if got == peer || r.isTrusted(got) || len(xff)+len(fwd) > MaxHeaderBytes/2 {
			return
		}
		name := "X-Forwarded-For"
		if len(h.Values("Forwarded")) > 0 {
			name = "Forwarded"
		}
		h2 := http.Header{}
		h2.Add(name, `"junk, for=9.9.9.9, 9.9.9.9`)
		addLines(h2, "X-Forwarded-For", xff)
		addLines(h2, "Forwarded", fwd)
		if got2 := r.ClientIP(remote, h2); got2 != got {
			t.Fatalf("prepended junk changed %v to %v", got, got2)
		}
	})
}

func addLines(h http.Header, name, lines string) {
	for _, line := range strings.Split(lines, "\n") {
		if line != "" {
			h.Add(name, line)
		}
	}
}
