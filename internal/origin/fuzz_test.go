package origin

import (
	"strings"
	"testing"
)

func FuzzAllow(f *testing.F) {
	for _, s := range []string{
		"https://app.example.com", "https://APP.example.com:443", "http://127.0.0.1:8080",
		"https://x.example.org", "https://example.org", "null", "", "https://[::1]:8443",
		"https://app.example.com.evil.net", "https://evilapp.example.com", "https://a@b",
		"https://app.example.com/", "https://xn--bcher-kva.example", "https://a.b.example.org.",
	} {
		f.Add(s)
	}
	m, err := New([]string{"https://app.example.com", "http://127.0.0.1:8080", "https://*.example.org", "https://[::1]:8443"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, origin string) {
		ok := m.Allow(origin)
		if !ok {
			return
		}
		// Whatever is allowed must be one of the allowed sites, in some
		// spelling that differs only by case or an explicit default port.
		lower := strings.ToLower(origin)
		switch {
		case lower == "https://app.example.com", lower == "https://app.example.com:443":
		case lower == "http://127.0.0.1:8080":
		case lower == "https://[::1]:8443", strings.HasPrefix(lower, "https://[") && strings.HasSuffix(lower, "]:8443"):
		case strings.HasPrefix(lower, "https://") &&
			(strings.HasSuffix(lower, ".example.org") || strings.HasSuffix(lower, ".example.org:443")):
			if strings.ContainsAny(lower[len("https://"):], "/?#@\\ %") {
				t.Fatalf("allowed %q with forbidden characters", origin)
			}
		default:
			t.Fatalf("allowed %q", origin)
		}
		if len(origin) > MaxLen {
			t.Fatalf("allowed over-long %d-byte origin", len(origin))
		}
	})
}

func FuzzNew(f *testing.F) {
	for _, s := range []string{"https://app.example.com", "https://*.example.com:8443", "null", "*", "http://[::1]"} {
		f.Add(s, "https://x.example.com")
	}
	f.Fuzz(func(t *testing.T, pattern, origin string) {
		m, err := New([]string{pattern})
		if err != nil {
			return
		}
		if m.Allow("null") || m.Allow("") {
			t.Fatalf("pattern %q allows null or empty", pattern)
		}
		m.Allow(origin)
	})
}
