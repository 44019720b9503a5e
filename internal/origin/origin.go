package origin

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// MaxLen is the longest Origin value Allow considers, in bytes.
const MaxLen = 2048

// ErrInvalidPattern is wrapped by every error New returns for a bad pattern.
var ErrInvalidPattern = errors.New("invalid origin pattern")

// Matcher holds a parsed allow-list. It is immutable after New and safe for
// concurrent use. The zero Matcher allows nothing.
type Matcher struct {
	patterns []string            // as given to New
	exact    map[string]struct{} // canonical "scheme://host:port"
	wild     []wildcard
}

// wildcard is a "scheme://*.suffix:port" pattern.
type wildcard struct {
	scheme string
	suffix string // ".example.com", lower case
	port   string
}

// parsed is an origin or pattern broken into canonical parts.
type parsed struct {
	scheme string // lower case
	host   string // lower case; IPv6 in brackets, canonical form
	port   string // decimal, never empty
	isIP   bool
}

func (p parsed) key() string { return p.scheme + "://" + p.host + ":" + p.port }

// New parses patterns. Every invalid pattern is reported, each error naming
// its pattern and wrapping ErrInvalidPattern.
func New(patterns []string) (*Matcher, error) {
	m := &Matcher{
		patterns: append([]string(nil), patterns...),
		exact:    make(map[string]struct{}, len(patterns)),
	}
	var errs []error
	for _, pat := range patterns {
		if err := m.add(pat); err != nil {
			errs = append(errs, fmt.Errorf("origin: pattern %q: %w: %s", pat, ErrInvalidPattern, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

func (m *Matcher) add(pat string) error {
	if pat == "*" || strings.EqualFold(pat, "null") {
		return errors.New("matches any site")
	}
	scheme, authority, err := splitOrigin(pat)
	if err != nil {
		return err
	}
	if scheme != "http" && scheme != "https" {
		return errors.New("scheme must be http or https")
	}
	host, port, err := splitHostPort(scheme, authority)
	if err != nil {
		return err
	}
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		if strings.Count(rest, ".") < 1 {
			return errors.New("a wildcard needs at least two labels after it")
		}
		p, err := parseHost(rest)
		if err != nil {
			return err
		}
		if p.isIP {
			return errors.New("a wildcard cannot precede an IP address")
		}
		m.wild = append(m.wild, wildcard{scheme: scheme, suffix: "." + p.host, port: port})
		return nil
	}
	p, err := parseHost(host)
	if err != nil {
		return err
	}
	p.scheme, p.port = scheme, port
	m.exact[p.key()] = struct{}{}
	return nil
}

// Allow reports whether origin, the Origin header's value as received,
// matches one of the patterns.
func (m *Matcher) Allow(origin string) bool {
	if m == nil || len(origin) > MaxLen {
		return false
	}
	p, err := parse(origin)
	if err != nil {
		return false
	}
	if _, ok := m.exact[p.key()]; ok {
		return true
	}
	if p.isIP {
		return false
	}
	for _, w := range m.wild {
		if w.scheme == p.scheme && w.port == p.port &&
			len(p.host) > len(w.suffix) && strings.HasSuffix(p.host, w.suffix) {
			return true
		}
	}
	return false
}

// Patterns returns a copy of the patterns given to New.
func (m *Matcher) Patterns() []string {
	if m == nil {
		return nil
	}
	return append([]string(nil), m.patterns...)
}

// parse breaks an origin into canonical parts or says why it cannot.
func parse(origin string) (parsed, error) {
	scheme, authority, err := splitOrigin(origin)
	if err != nil {
		return parsed{}, err
	}
	host, port, err := splitHostPort(scheme, authority)
	if err != nil {
		return parsed{}, err
	}
	p, err := parseHost(host)
	if err != nil {
		return parsed{}, err
	}
	p.scheme, p.port = scheme, port
	return p, nil
}

// splitOrigin splits "scheme://authority", refusing userinfo, paths, queries
// and fragments. The scheme is returned in lower case.
func splitOrigin(s string) (scheme, authority string, err error) {
	scheme, authority, ok := strings.Cut(s, "://")
	if !ok {
		return "", "", errors.New("missing scheme")
	}
	if !validScheme(scheme) {
		return "", "", errors.New("malformed scheme")
	}
	if authority == "" {
		return "", "", errors.New("missing host")
	}
	if i := strings.IndexAny(authority, "/?#@\\"); i >= 0 {
		return "", "", fmt.Errorf("unexpected %q: only scheme, host and port are allowed", authority[i])
	}
	return strings.ToLower(scheme), authority, nil
}

// validScheme follows RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
func validScheme(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// splitHostPort separates the port, filling in the scheme's default.
func splitHostPort(scheme, authority string) (host, port string, err error) {
	host, port = authority, ""
	if strings.HasPrefix(authority, "[") {
		end := strings.IndexByte(authority, ']')
		if end < 0 {
			return "", "", errors.New("unterminated IPv6 literal")
		}
		host, port = authority[:end+1], authority[end+1:]
		if port != "" {
			var ok bool
			if port, ok = strings.CutPrefix(port, ":"); !ok {
				return "", "", errors.New("unexpected text after IPv6 literal")
			}
			if port == "" {
				return "", "", errors.New("empty port")
			}
		}
	} else if i := strings.LastIndexByte(authority, ':'); i >= 0 {
		host, port = authority[:i], authority[i+1:]
		if port == "" {
			return "", "", errors.New("empty port")
		}
	}
	if port == "" {
		return host, defaultPort(scheme), nil
	}
	if !validPort(port) {
		return "", "", errors.New("malformed port")
	}
	return host, port, nil
}

func defaultPort(scheme string) string {
	switch scheme {
	case "http", "ws":
		return "80"
	case "https", "wss":
		return "443"
	}
	return "0"
}

// validPort accepts 1..65535 written without leading zeros.
func validPort(s string) bool {
	if s == "" || len(s) > 5 || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	n, err := strconv.Atoi(s)
	return err == nil && n <= 65535
}

// parseHost validates a host (DNS name, IPv4 or bracketed IPv6 literal) and
// returns it in canonical lower-case form.
func parseHost(host string) (parsed, error) {
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return parsed{}, errors.New("malformed IPv6 literal")
		}
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return parsed{}, errors.New("malformed IPv6 literal")
		}
		return parsed{host: "[" + a.String() + "]", isIP: true}, nil
	}
	if host == "" {
		return parsed{}, errors.New("missing host")
	}
	if len(host) > 253 {
		return parsed{}, errors.New("host too long")
	}
	host = strings.ToLower(host)
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return parsed{}, err
		}
	}
	if last := labels[len(labels)-1]; allDigits(last) {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is4() {
			return parsed{}, errors.New("malformed IPv4 address")
		}
		return parsed{host: host, isIP: true}, nil
	}
	return parsed{host: host}, nil
}

// checkLabel accepts 1 to 63 of [a-z0-9_-], not starting or ending with '-'.
// An empty label catches leading, doubled and trailing dots.
func checkLabel(l string) error {
	if l == "" {
		return errors.New("empty label (leading, doubled or trailing dot)")
	}
	if len(l) > 63 {
		return errors.New("label longer than 63 bytes")
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return errors.New("label starts or ends with '-'")
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !isAlpha(c) && !isDigit(c) && c != '-' && c != '_' {
			if c == '*' {
				return errors.New("a wildcard must be the whole left-most label")
			}
			return fmt.Errorf("unexpected %q in host (write IDNs in xn-- form)", c)
		}
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
