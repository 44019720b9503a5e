package origin

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func mustNew(t *testing.T, patterns ...string) *Matcher {
	t.Helper()
	m, err := New(patterns)
	if err != nil {
		t.Fatalf("New(%q): %v", patterns, err)
	}
	return m
}

func TestAllow(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		origin   string
		want     bool
	}{
		// Exact matches and normalisation.
		{"exact", []string{"https://app.example.com"}, "https://app.example.com", true},
		{"uppercase origin host", []string{"https://app.example.com"}, "https://APP.Example.COM", true},
		{"uppercase origin scheme", []string{"https://app.example.com"}, "HTTPS://app.example.com", true},
		{"uppercase pattern", []string{"HTTPS://App.Example.Com"}, "https://app.example.com", true},
		{"default https port explicit in origin", []string{"https://app.example.com"}, "https://app.example.com:443", true},
		{"default https port explicit in pattern", []string{"https://app.example.com:443"}, "https://app.example.com", true},
		{"default http port", []string{"http://app.example.com"}, "http://app.example.com:80", true},
		{"explicit port", []string{"http://127.0.0.1:8080"}, "http://127.0.0.1:8080", true},
		{"ipv6 literal", []string{"https://[::1]:8443"}, "https://[::1]:8443", true},
		{"ipv6 literal non-canonical", []string{"https://[::1]:8443"}, "https://[0:0:0:0:0:0:0:1]:8443", true},
		{"punycode IDN", []string{"https://xn--bcher-kva.example"}, "https://xn--bcher-kva.example", true},
		{"underscore label", []string{"https://my_app.example.com"}, "https://my_app.example.com", true},

		// Wrong scheme or port.
		{"wrong scheme", []string{"https://app.example.com"}, "http://app.example.com", false},
		{"wrong port", []string{"https://app.example.com"}, "https://app.example.com:8443", false},
		{"port 80 on https", []string{"https://app.example.com"}, "https://app.example.com:80", false},
		{"missing port", []string{"http://127.0.0.1:8080"}, "http://127.0.0.1", false},
		{"other port", []string{"http://127.0.0.1:8080"}, "http://127.0.0.1:8081", false},
		{"ws scheme", []string{"https://app.example.com"}, "wss://app.example.com", false},
		{"leading zero port", []string{"http://127.0.0.1:8080"}, "http://127.0.0.1:08080", false},
		{"empty port", []string{"https://app.example.com"}, "https://app.example.com:", false},
		{"port out of range", []string{"https://app.example.com"}, "https://app.example.com:65979", false},
		{"port sign", []string{"http://127.0.0.1:8080"}, "http://127.0.0.1:+8080", false},

		// Suffix and prefix tricks.
		{"suffix trick exact", []string{"https://app.example.com"}, "https://app.example.com.evil.net", false},
		{"suffix trick wildcard", []string{"https://*.example.com"}, "https://app.example.com.evil.net", false},
		{"prefix trick exact", []string{"https://app.example.com"}, "https://evilapp.example.com", false},
		{"subdomain of exact", []string{"https://app.example.com"}, "https://x.app.example.com", false},
		{"no dot boundary wildcard", []string{"https://*.example.com"}, "https://evilexample.com", false},
		{"trailing dot", []string{"https://app.example.com"}, "https://app.example.com.", false},
		{"trailing dot wildcard", []string{"https://*.example.com"}, "https://app.example.com.", false},
		{"doubled dot", []string{"https://*.example.com"}, "https://app..example.com", false},
		{"leading dot", []string{"https://*.example.com"}, "https://.example.com", false},

		// Wildcards.
		{"wildcard subdomain", []string{"https://*.example.com"}, "https://app.example.com", true},
		{"wildcard deeper subdomain", []string{"https://*.example.com"}, "https://a.b.example.com", true},
		{"wildcard uppercase", []string{"https://*.example.com"}, "https://APP.EXAMPLE.COM", true},
		{"wildcard not apex", []string{"https://*.example.com"}, "https://example.com", false},
		{"wildcard wrong scheme", []string{"https://*.example.com"}, "http://app.example.com", false},
		{"wildcard wrong port", []string{"https://*.example.com"}, "https://app.example.com:8443", false},
		{"wildcard with port", []string{"https://*.example.com:8443"}, "https://app.example.com:8443", true},
		{"wildcard literal star origin", []string{"https://*.example.com"}, "https://*.example.com", false},

		// Shapes an Origin header never has.
		{"null", []string{"https://app.example.com"}, "null", false},
		{"empty", []string{"https://app.example.com"}, "", false},
		{"trailing slash", []string{"https://app.example.com"}, "https://app.example.com/", false},
		{"path", []string{"https://app.example.com"}, "https://app.example.com/x", false},
		{"query", []string{"https://app.example.com"}, "https://app.example.com?x", false},
		{"fragment", []string{"https://app.example.com"}, "https://app.example.com#x", false},
		{"userinfo", []string{"https://app.example.com"}, "https://user@app.example.com", false},
		{"userinfo trick", []string{"https://app.example.com"}, "https://app.example.com@evil.net", false},
		{"backslash", []string{"https://app.example.com"}, "https://app.example.com\\evil.net", false},
		{"no scheme", []string{"https://app.example.com"}, "app.example.com", false},
		{"scheme relative", []string{"https://app.example.com"}, "//app.example.com", false},
		{"space", []string{"https://app.example.com"}, "https://app.example.com ", false},
		{"list of origins", []string{"https://app.example.com"}, "https://app.example.com https://evil.net", false},
		{"comma list", []string{"https://app.example.com"}, "https://app.example.com,https://evil.net", false},
		{"percent encoded", []string{"https://app.example.com"}, "https://app%2Eexample.com", false},
		{"unicode IDN", []string{"https://xn--bcher-kva.example"}, "https://bücher.example", false},
		{"nul byte", []string{"https://app.example.com"}, "https://app.example.com\x00", false},
		{"crlf", []string{"https://app.example.com"}, "https://app.example.com\r\n", false},
		{"octal-ish ip", []string{"http://127.0.0.1:8080"}, "http://0177.0.0.1:8080", false},
		{"hex ip", []string{"http://127.0.0.1:8080"}, "http://0x7f.0.0.1:8080", false},
		{"ipv6 zone", []string{"https://[fe80::1]"}, "https://[fe80::1%25eth0]", false},
		{"empty host", []string{"https://app.example.com"}, "https://", false},
		{"empty host with port", []string{"https://app.example.com"}, "https://:443", false},
		{"over-long", []string{"https://app.example.com"}, "https://" + strings.Repeat("a.", 1100) + "example.com", false},

		// Several patterns, and none.
		{"second pattern", []string{"https://a.example.com", "http://127.0.0.1:8080"}, "http://127.0.0.1:8080", true},
		{"no patterns", nil, "https://app.example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustNew(t, tt.patterns...)
			if got := m.Allow(tt.origin); got != tt.want {
				t.Errorf("patterns %q: Allow(%q) = %v, want %v", tt.patterns, tt.origin, got, tt.want)
			}
		})
	}
}

func TestNewInvalid(t *testing.T) {
	tests := []string{
		"",
		"*",
		"null",
		"NULL",
		"app.example.com",
		"//app.example.com",
		"https://",
		"https://app.example.com/",
		"https://app.example.com/path",
		"https://app.example.com?q=1",
		"https://app.example.com#f",
		"https://user@app.example.com",
		"https://app.example.com.",
		"https://app.example.com:",
		"https://app.example.com:0",
		"https://app.example.com:65536",
		"https://app.example.com:https",
		"ftp://app.example.com",
		"wss://app.example.com",
		"https://*",
		"https://*.com",
		"https://*.",
		"https://*.*.example.com",
		"https://a.*.example.com",
		"https://*app.example.com",
		"https://app*.example.com",
		"https://**.example.com",
		"https://*.127.0.0.1",
		"https://*.[::1]",
		"https://bücher.example",
		"https://[::1",
		"https://[not-ip]",
		"https://[::1]x",
		"https://[127.0.0.1]",
		"https://256.0.0.1",
		"https://-app.example.com",
		"https://app .example.com",
	}
	for _, pat := range tests {
		t.Run(pat, func(t *testing.T) {
			_, err := New([]string{"https://ok.example.com", pat})
			if err == nil {
				t.Fatalf("New accepted %q", pat)
			}
			if !errors.Is(err, ErrInvalidPattern) {
				t.Errorf("error %v does not wrap ErrInvalidPattern", err)
			}
			if !strings.Contains(err.Error(), strconv.Quote(pat)) {
				t.Errorf("error %q does not name the pattern %q", err, pat)
			}
		})
	}
}

func TestNewReportsEveryPattern(t *testing.T) {
	_, err := New([]string{"null", "https://ok.example.com", "https://*.com", "ftp://x.example"})
	if err == nil {
		t.Fatal("New accepted invalid patterns")
	}
	for _, p := range []string{`"null"`, `"https://*.com"`, `"ftp://x.example"`} {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %s", err, p)
		}
	}
	if strings.Contains(err.Error(), "ok.example.com") {
		t.Errorf("error %q mentions a valid pattern", err)
	}
}

func TestPatternsIsACopy(t *testing.T) {
	in := []string{"https://a.example.com", "https://*.example.org"}
	m := mustNew(t, in...)
	in[0] = "https://evil.net"
	got := m.Patterns()
	if !slices.Equal(got, []string{"https://a.example.com", "https://*.example.org"}) {
		t.Fatalf("Patterns() = %q", got)
	}
	got[0] = "https://evil.net"
	if m.Allow("https://evil.net") || m.Patterns()[0] != "https://a.example.com" {
		t.Fatal("Patterns() shares memory with the Matcher")
	}
}

func TestNilAndZeroMatcher(t *testing.T) {
	var nilM *Matcher
	if nilM.Allow("https://app.example.com") || nilM.Patterns() != nil {
		t.Error("nil Matcher allowed something")
	}
	var zero Matcher
	if zero.Allow("https://app.example.com") {
		t.Error("zero Matcher allowed something")
	}
}

func TestAllowDoesNotAllocateMuch(t *testing.T) {
	m := mustNew(t, "https://app.example.com", "https://*.example.org")
	allocs := testing.AllocsPerRun(100, func() {
		m.Allow("https://x.example.org")
	})
	if allocs > 4 {
		t.Errorf("Allow allocates %v times per call", allocs)
	}
}

func BenchmarkAllow(b *testing.B) {
	m, _ := New([]string{"https://app.example.com", "https://*.example.org"})
	b.ReportAllocs()
	for b.Loop() {
		m.Allow("https://x.example.org")
	}
}
