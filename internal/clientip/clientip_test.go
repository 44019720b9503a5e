package clientip

import (
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func mustNew(t testing.TB, cidrs ...string) *Resolver {
	t.Helper()
	r, err := New(cidrs)
	if err != nil {
		t.Fatalf("New(%q): %v", cidrs, err)
	}
	return r
}

// hdr builds headers from name, value pairs; a name may repeat.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestClientIP(t *testing.T) {
	trusted := []string{"10.0.0.0/8", "127.0.0.1", "fd00::/8"}
	const proxy = "10.1.2.3:4567"
	tests := []struct {
		name   string
		remote string
		h      http.Header
		want   string
	}{
		// The peer, when it is not a trusted proxy.
		{"untrusted peer, no header", "203.0.113.7:5000", nil, "203.0.113.7"},
		{"untrusted peer ignores XFF", "203.0.113.7:5000", hdr("X-Forwarded-For", "1.2.3.4"), "203.0.113.7"},
		{"untrusted peer ignores Forwarded", "203.0.113.7:5000", hdr("Forwarded", "for=1.2.3.4"), "203.0.113.7"},
		{"untrusted peer claiming a trusted hop", "203.0.113.7:5000", hdr("X-Forwarded-For", "10.0.0.1"), "203.0.113.7"},
		{"ipv6 peer", "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"ipv4-mapped peer", "[::ffff:203.0.113.7]:443", nil, "203.0.113.7"},
		{"ipv4-mapped trusted peer", "[::ffff:10.1.2.3]:443", hdr("X-Forwarded-For", "1.2.3.4"), "1.2.3.4"},
		{"zoned peer", "[fe80::1%eth0]:443", nil, "fe80::1"},
		{"bare ip peer", "203.0.113.7", nil, "203.0.113.7"},
		{"trusted peer, no header", proxy, nil, "10.1.2.3"},
		{"trusted bare /32", "127.0.0.1:9", hdr("X-Forwarded-For", "1.2.3.4"), "1.2.3.4"},
		{"not the /32 neighbour", "127.0.0.2:9", hdr("X-Forwarded-For", "1.2.3.4"), "127.0.0.2"},

		// X-Forwarded-For.
		{"xff single", proxy, hdr("X-Forwarded-For", "1.2.3.4"), "1.2.3.4"},
		{"xff right-most untrusted", proxy, hdr("X-Forwarded-For", "6.6.6.6, 1.2.3.4"), "1.2.3.4"},
		{"xff skips trusted hops", proxy, hdr("X-Forwarded-For", "6.6.6.6, 1.2.3.4, 10.0.0.9, 10.0.0.8"), "1.2.3.4"},
		{"xff all trusted takes left-most", proxy, hdr("X-Forwarded-For", "10.0.0.7, 10.0.0.8"), "10.0.0.7"},
		{"xff several lines", proxy, hdr("X-Forwarded-For", "6.6.6.6", "X-Forwarded-For", "1.2.3.4, 10.0.0.2"), "1.2.3.4"},
		{"xff later line wins", proxy, hdr("X-Forwarded-For", "1.2.3.4", "X-Forwarded-For", "5.6.7.8"), "5.6.7.8"},
		{"xff no spaces", proxy, hdr("X-Forwarded-For", "6.6.6.6,1.2.3.4"), "1.2.3.4"},
		{"xff tabs", proxy, hdr("X-Forwarded-For", "6.6.6.6,\t1.2.3.4\t"), "1.2.3.4"},
		{"xff ipv6", proxy, hdr("X-Forwarded-For", "2001:db8::7"), "2001:db8::7"},
		{"xff ipv4 with port", proxy, hdr("X-Forwarded-For", "1.2.3.4:5678"), "1.2.3.4"},
		{"xff ipv6 with port", proxy, hdr("X-Forwarded-For", "[2001:db8::7]:5678"), "2001:db8::7"},
		{"xff ipv4-mapped", proxy, hdr("X-Forwarded-For", "::ffff:1.2.3.4"), "1.2.3.4"},
		{"xff ipv4-mapped trusted skipped", proxy, hdr("X-Forwarded-For", "1.2.3.4, ::ffff:10.0.0.5"), "1.2.3.4"},
		{"xff trusted ipv6 skipped", proxy, hdr("X-Forwarded-For", "1.2.3.4, fd00::5"), "1.2.3.4"},
		{"xff garbage right falls back", proxy, hdr("X-Forwarded-For", "1.2.3.4, nonsense"), "10.1.2.3"},
		{"xff garbage left of answer ignored", proxy, hdr("X-Forwarded-For", "nonsense, 1.2.3.4"), "1.2.3.4"},
		{"xff garbage behind trusted falls back", proxy, hdr("X-Forwarded-For", "nonsense, 10.0.0.2"), "10.1.2.3"},
		{"xff empty element falls back", proxy, hdr("X-Forwarded-For", "1.2.3.4,"), "10.1.2.3"},
		{"xff empty value falls back", proxy, hdr("X-Forwarded-For", ""), "10.1.2.3"},
		{"xff unknown falls back", proxy, hdr("X-Forwarded-For", "unknown"), "10.1.2.3"},
		{"xff hostname falls back", proxy, hdr("X-Forwarded-For", "example.com"), "10.1.2.3"},
		{"xff quoted falls back", proxy, hdr("X-Forwarded-For", `"1.2.3.4"`), "10.1.2.3"},
		{"xff zone dropped", proxy, hdr("X-Forwarded-For", "fe80::1%eth0"), "fe80::1"},

		// Forwarded.
		{"fwd single", proxy, hdr("Forwarded", "for=1.2.3.4"), "1.2.3.4"},
		{"fwd case-insensitive key", proxy, hdr("Forwarded", "For=1.2.3.4"), "1.2.3.4"},
		{"fwd quoted", proxy, hdr("Forwarded", `for="1.2.3.4"`), "1.2.3.4"},
		{"fwd with port", proxy, hdr("Forwarded", `for="1.2.3.4:4711"`), "1.2.3.4"},
		{"fwd ipv6", proxy, hdr("Forwarded", `for="[2001:db8:cafe::17]"`), "2001:db8:cafe::17"},
		{"fwd ipv6 with port", proxy, hdr("Forwarded", `for="[2001:db8:cafe::17]:4711"`), "2001:db8:cafe::17"},
		{"fwd ipv6 unquoted lenient", proxy, hdr("Forwarded", `for=[2001:db8::17]:4711`), "2001:db8::17"},
		{"fwd ipv6 without brackets falls back", proxy, hdr("Forwarded", `for="2001:db8::17"`), "10.1.2.3"},
		{"fwd ipv4 in brackets falls back", proxy, hdr("Forwarded", `for="[1.2.3.4]"`), "10.1.2.3"},
		{"fwd obfuscated port", proxy, hdr("Forwarded", `for="1.2.3.4:_abc"`), "1.2.3.4"},
		{"fwd other params", proxy, hdr("Forwarded", `proto=https;for=1.2.3.4;by=10.0.0.1;host="a.example"`), "1.2.3.4"},
		{"fwd list", proxy, hdr("Forwarded", "for=6.6.6.6, for=1.2.3.4, for=10.0.0.3"), "1.2.3.4"},
		{"fwd several lines", proxy, hdr("Forwarded", "for=6.6.6.6", "Forwarded", "for=1.2.3.4;proto=https"), "1.2.3.4"},
		{"fwd all trusted", proxy, hdr("Forwarded", "for=10.0.0.3, for=10.0.0.4"), "10.0.0.3"},
		{"fwd comma in quoted string", proxy, hdr("Forwarded", `for=1.2.3.4;host="a,b"`), "1.2.3.4"},
		{"fwd escaped quote", proxy, hdr("Forwarded", `for=1.2.3.4;ext="a\",for=6.6.6.6"`), "1.2.3.4"},
		{"fwd escaped backslash", proxy, hdr("Forwarded", `for=6.6.6.6;ext="a\\", for=1.2.3.4`), "1.2.3.4"},
		{"fwd unknown nearest trusted", proxy, hdr("Forwarded", "for=6.6.6.6, for=unknown, for=10.0.0.3"), "10.0.0.3"},
		{"fwd unknown is peer", proxy, hdr("Forwarded", "for=6.6.6.6, for=unknown"), "10.1.2.3"},
		{"fwd obfuscated is peer", proxy, hdr("Forwarded", `for=6.6.6.6, for="_hidden"`), "10.1.2.3"},
		{"fwd obfuscated token", proxy, hdr("Forwarded", "for=_SEVKISEK, for=10.0.0.3"), "10.0.0.3"},
		{"fwd element without for", proxy, hdr("Forwarded", "for=6.6.6.6, proto=https"), "10.1.2.3"},
		{"fwd garbage left of answer ignored", proxy, hdr("Forwarded", `for="unterminated, for=1.2.3.4`), "1.2.3.4"},
		{"fwd unterminated falls back", proxy, hdr("Forwarded", `for=1.2.3.4, for="10.0.0.3`), "10.1.2.3"},
		{"fwd duplicate for falls back", proxy, hdr("Forwarded", "for=1.2.3.4;for=5.6.7.8"), "10.1.2.3"},
		{"fwd bad obfuscated falls back", proxy, hdr("Forwarded", `for="_a b"`), "10.1.2.3"},
		{"fwd bad port falls back", proxy, hdr("Forwarded", `for="1.2.3.4:99999"`), "10.1.2.3"},
		{"fwd no value falls back", proxy, hdr("Forwarded", "for="), "10.1.2.3"},
		{"fwd no equals falls back", proxy, hdr("Forwarded", "for"), "10.1.2.3"},
		{"fwd space around equals falls back", proxy, hdr("Forwarded", "for = 1.2.3.4"), "10.1.2.3"},
		{"fwd trailing text after quote falls back", proxy, hdr("Forwarded", `for="1.2.3.4"x`), "10.1.2.3"},
		{"fwd hostname falls back", proxy, hdr("Forwarded", "for=example.com"), "10.1.2.3"},
		{"fwd empty falls back", proxy, hdr("Forwarded", ""), "10.1.2.3"},
		{"fwd ipv4-mapped", proxy, hdr("Forwarded", `for="[::ffff:1.2.3.4]"`), "1.2.3.4"},

		// Both headers.
		{"forwarded preferred", proxy, hdr("Forwarded", "for=1.2.3.4", "X-Forwarded-For", "5.6.7.8"), "1.2.3.4"},
		{"bad forwarded does not fall to xff", proxy, hdr("Forwarded", "for=nope", "X-Forwarded-For", "5.6.7.8"), "10.1.2.3"},

		// A peer that does not parse.
		{"bad remote", "not-an-addr", hdr("X-Forwarded-For", "1.2.3.4"), "invalid IP"},
		{"empty remote", "", nil, "invalid IP"},
	}
	r := mustNew(t, trusted...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.ClientIP(tt.remote, tt.h)
			if got.String() != tt.want {
				t.Errorf("ClientIP(%q, %q) = %v, want %v", tt.remote, tt.h, got, tt.want)
			}
		})
	}
}

func TestNoTrustedProxies(t *testing.T) {
	for _, r := range []*Resolver{nil, {}, mustNew(t)} {
		got := r.ClientIP("10.1.2.3:80", hdr("X-Forwarded-For", "1.2.3.4", "Forwarded", "for=1.2.3.4"))
		if got != netip.MustParseAddr("10.1.2.3") {
			t.Errorf("ClientIP = %v, want the peer", got)
		}
	}
}

func TestLimits(t *testing.T) {
	r := mustNew(t, "10.0.0.0/8")
	const proxy = "10.0.0.1:1"
	many := func(n int, addr string) string {
		return strings.TrimSuffix(strings.Repeat(addr+", ", n), ", ")
	}
	tests := []struct {
		name string
		h    http.Header
		want string
	}{
		{"64 trusted hops read", hdr("X-Forwarded-For", "1.2.3.4, "+many(63, "10.0.0.2")), "1.2.3.4"},
		{"65th hop ignored", hdr("X-Forwarded-For", "1.2.3.4, 10.0.0.3, "+many(63, "10.0.0.2")), "10.0.0.3"},
		{"hops beyond limit ignored", hdr("X-Forwarded-For", "1.2.3.4, "+many(100, "10.0.0.2")), "10.0.0.2"},
		{"long client garbage ignored", hdr("X-Forwarded-For", strings.Repeat("x", 1<<20)+", 1.2.3.4"), "1.2.3.4"},
		{"long quoted garbage ignored", hdr("Forwarded", `for="`+strings.Repeat(`\"`, 1<<19)+`, for=1.2.3.4`), "1.2.3.4"},
		{"element cut by byte budget ignored", hdr("X-Forwarded-For", "1.2.3.4, "+strings.Repeat(" ", MaxHeaderBytes-len(", 10.0.0.2"))+", 10.0.0.2"), "10.0.0.2"},
		{"budget spans lines", hdr("X-Forwarded-For", "1.2.3.4", "X-Forwarded-For", strings.Repeat(" ", MaxHeaderBytes)+"10.0.0.2"), "10.0.0.1"},
		{"first element over budget", hdr("X-Forwarded-For", strings.Repeat(" ", MaxHeaderBytes)+"1.2.3.4"), "10.0.0.1"},
		{"many lines", hdr(append(strings.Split(strings.Repeat("X-Forwarded-For,10.0.0.2,", 10000), ",")[:20000], "X-Forwarded-For", "1.2.3.4")...), "1.2.3.4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.ClientIP(proxy, tt.h); got.String() != tt.want {
				t.Errorf("ClientIP = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		entry    string
		inside   []string
		outside  []string
		wantFail bool
	}{
		{entry: "10.0.0.0/8", inside: []string{"10.0.0.1", "10.255.255.255", "::ffff:10.0.0.1"}, outside: []string{"11.0.0.1", "::a00:1"}},
		{entry: "10.1.2.3/8", inside: []string{"10.200.0.1"}},
		{entry: "127.0.0.1", inside: []string{"127.0.0.1"}, outside: []string{"127.0.0.2"}},
		{entry: "::1", inside: []string{"::1"}, outside: []string{"::2", "127.0.0.1"}},
		{entry: "::ffff:192.168.0.0/112", inside: []string{"192.168.3.4"}, outside: []string{"192.169.0.1"}},
		{entry: "::ffff:192.168.0.1", inside: []string{"192.168.0.1"}},
		{entry: "fd00::/8", inside: []string{"fd12::1"}, outside: []string{"fe80::1"}},
		{entry: "", wantFail: true},
		{entry: "10.0.0.0/33", wantFail: true},
		{entry: "10.0.0/8", wantFail: true},
		{entry: "localhost", wantFail: true},
		{entry: " 10.0.0.1", wantFail: true},
		{entry: "fe80::1%eth0", wantFail: true},
		{entry: "10.0.0.1:80", wantFail: true},
		{entry: "10.0.0.0/", wantFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			r, err := New([]string{"192.0.2.1", tt.entry})
			if tt.wantFail {
				if err == nil {
					t.Fatalf("New accepted %q", tt.entry)
				}
				if !errors.Is(err, ErrInvalidEntry) || !strings.Contains(err.Error(), strconv.Quote(tt.entry)) {
					t.Fatalf("error %q does not name %q or wrap ErrInvalidEntry", err, tt.entry)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range tt.inside {
				if !r.isTrusted(canonical(netip.MustParseAddr(a))) {
					t.Errorf("%s not trusted", a)
				}
			}
			for _, a := range tt.outside {
				if r.isTrusted(canonical(netip.MustParseAddr(a))) {
					t.Errorf("%s trusted", a)
				}
			}
		})
	}
}

func TestNewReportsEveryEntry(t *testing.T) {
	_, err := New([]string{"bad1", "10.0.0.0/8", "bad2"})
	if err == nil || !strings.Contains(err.Error(), `"bad1"`) || !strings.Contains(err.Error(), `"bad2"`) {
		t.Fatalf("error %v does not name both bad entries", err)
	}
}

func BenchmarkClientIPForwarded(b *testing.B) {
	r := mustNew(b, "10.0.0.0/8")
	h := hdr("Forwarded", `for=6.6.6.6, for="[2001:db8::1]:4711";proto=https, for=10.0.0.3`)
	b.ReportAllocs()
	for b.Loop() {
		r.ClientIP("10.0.0.1:1", h)
	}
}

func BenchmarkClientIPLongHeader(b *testing.B) {
	r := mustNew(b, "10.0.0.0/8")
	h := hdr("X-Forwarded-For", strings.Repeat("10.0.0.2, ", 10000)+"10.0.0.2")
	b.ReportAllocs()
	for b.Loop() {
		r.ClientIP("10.0.0.1:1", h)
	}
}
