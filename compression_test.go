package rampart

import (
	"net/http"
	"strings"
	"testing"
)

func TestSelectExtensions(t *testing.T) {
	cases := []struct {
		name    string
		allowed bool
		offers  []string
		want    string
	}{
		{"allowed, offered", true, []string{"permessage-deflate; client_max_window_bits"}, "permessage-deflate"},
		{"not allowed", false, []string{"permessage-deflate; client_max_window_bits"}, ""},
		{"allowed, not offered", true, nil, ""},
		{"allowed, another extension only", true, []string{"x-webkit-deflate-frame"}, ""},
		{"allowed, the acceptable offer on a second line", true, []string{"permessage-deflate; server_max_window_bits=9", "permessage-deflate"}, "permessage-deflate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "/ws", nil)
			for _, o := range tc.offers {
				r.Header.Add("Sec-WebSocket-Extensions", o)
			}
			selectExtensions(r, tc.allowed)
			if got := r.Header.Values("Sec-WebSocket-Extensions"); strings.Join(got, ",") != tc.want || len(got) > 1 {
				t.Fatalf("left %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzExtensionOffer feeds acceptsDeflate any Sec-WebSocket-Extensions
// value: it never panics; it accepts only a value with a permessage-deflate
// offer whose parameters it can honour; and an offer appended to an
// accepted value never makes it refused (the first acceptable offer wins).
func FuzzExtensionOffer(f *testing.F) {
	for _, s := range []string{
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate",
		"permessage-deflate; server_max_window_bits=10, permessage-deflate",
		`permessage-deflate; client_max_window_bits="15"; server_no_context_takeover`,
		"permessage-deflate; client_no_context_takeover; client_no_context_takeover",
		"x-webkit-deflate-frame, foo; bar=1",
		"permessage-deflate; client_max_window_bits=",
		";,;,=",
	} {
		f.Add(s, "permessage-deflate; mystery")
	}
	f.Fuzz(func(t *testing.T, header, more string) {
		ok := acceptsDeflate(header)
		if ok && !offersDeflate(header) {
			t.Fatalf("accepted %q, which has no permessage-deflate offer", header)
		}
		if ok && !acceptsDeflate(header+","+more) {
			t.Fatalf("accepted %q but not with %q appended", header, more)
		}
		if ok && strings.Contains(header, "server_max_window_bits") && !strings.Contains(header, ",") {
			t.Fatalf("accepted %q, which restricts the server's window", header)
		}
	})
}

// offersDeflate reports whether some offer in header is named
// permessage-deflate.
func offersDeflate(header string) bool {
	for _, offer := range strings.Split(header, ",") {
		name, _, _ := strings.Cut(offer, ";")
		if strings.TrimSpace(name) == "permessage-deflate" {
			return true
		}
	}
	return false
}
