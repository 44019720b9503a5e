package clientip

import (
	"errors"
	"net/netip"
	"strings"
)

var errMalformed = errors.New("malformed forwarding header")

// hopReader yields the elements of a comma-separated header, possibly spread
// over several lines, from the right, within MaxHeaderBytes. An element
// that the byte budget cuts is not returned: the reader reports done.
type hopReader struct {
	lines     []string // lines not yet started
	cur       string   // unread part of the current line
	active    bool     // cur holds a line being read
	truncated bool     // cur was cut on the left by the byte budget
	budget    int      // bytes still allowed
	forwarded bool     // RFC 7239 syntax: quoted strings may hide commas
}

func (hr *hopReader) next() (elem string, done bool, err error) {
	for !hr.active {
		if len(hr.lines) == 0 || hr.budget <= 0 {
			return "", true, nil
		}
		line := hr.lines[len(hr.lines)-1]
		hr.lines = hr.lines[:len(hr.lines)-1]
		if hr.truncated = len(line) > hr.budget; hr.truncated {
			line = line[len(line)-hr.budget:]
		}
		hr.budget -= len(line)
		hr.cur, hr.active = line, true
	}
	i, err := lastComma(hr.cur, hr.forwarded)
	if err != nil {
		if hr.truncated {
			return "", true, nil
		}
		return "", false, err
	}
	elem = hr.cur[i+1:]
	if i >= 0 {
		hr.cur = hr.cur[:i]
	} else {
		hr.active = false
		if hr.truncated {
			return "", true, nil
		}
	}
	return trimOWS(elem), false, nil
}

// lastComma finds the right-most comma outside quoted strings, or -1.
// Linear: every byte is looked at a bounded number of times.
func lastComma(s string, quotes bool) (int, error) {
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case ',':
			return i, nil
		case '"':
			if !quotes {
				continue
			}
			j := openingQuote(s, i)
			if j < 0 {
				return -1, errMalformed
			}
			i = j
		}
	}
	return -1, nil
}

// openingQuote finds the unescaped '"' that opens the quoted string closed
// at s[end]: a quote preceded by an odd run of backslashes is escaped.
func openingQuote(s string, end int) int {
	for j := end - 1; j >= 0; j-- {
		if s[j] != '"' {
			continue
		}
		k := j
		for k > 0 && s[k-1] == '\\' {
			k--
		}
		if (j-k)%2 == 0 {
			return j
		}
		j = k
	}
	return -1
}

func trimOWS(s string) string { return strings.Trim(s, " \t") }

// parseXFF reads one X-Forwarded-For element: an IP, optionally with a port.
func parseXFF(elem string) (a netip.Addr, known bool, err error) {
	if a, err := netip.ParseAddr(elem); err == nil {
		return canonical(a), true, nil
	}
	if ap, err := netip.ParseAddrPort(elem); err == nil {
		return canonical(ap.Addr()), true, nil
	}
	return netip.Addr{}, false, errMalformed
}

// parseForwarded reads the for= node of one RFC 7239 forwarded-element.
// known is false for "unknown", obfuscated nodes and elements without for=.
func parseForwarded(elem string) (a netip.Addr, known bool, err error) {
	node, found := "", false
	for pair := range splitPairs(elem) {
		pair = trimOWS(pair)
		if pair == "" {
			continue
		}
		key, value, ok := strings.Cut(pair, "=")
		if !ok || !isToken(key) {
			return netip.Addr{}, false, errMalformed
		}
		v, ok := unquote(value)
		if !ok {
			return netip.Addr{}, false, errMalformed
		}
		if strings.EqualFold(key, "for") {
			if found {
				return netip.Addr{}, false, errMalformed
			}
			node, found = v, true
		}
	}
	if !found {
		return netip.Addr{}, false, nil
	}
	return parseNode(node)
}

// splitPairs yields the ';'-separated pairs of an element, respecting quoted
// strings. An unterminated quoted string yields a final pair that unquote
// refuses.
func splitPairs(elem string) func(func(string) bool) {
	return func(yield func(string) bool) {
		start, inQuote := 0, false
		for i := 0; i < len(elem); i++ {
			switch c := elem[i]; {
			case inQuote && c == '\\':
				i++
			case c == '"':
				inQuote = !inQuote
			case c == ';' && !inQuote:
				if !yield(elem[start:i]) {
					return
				}
				start = i + 1
			}
		}
		yield(elem[start:])
	}
}

// unquote returns a token as is, or the content of a quoted string.
func unquote(v string) (string, bool) {
	if v == "" {
		return "", false
	}
	if v[0] != '"' {
		return v, isToken(v) || isNodeChars(v)
	}
	if len(v) < 2 || v[len(v)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		c := v[i]
		switch {
		case c == '\\':
			i++
			if i >= len(v)-1 {
				return "", false
			}
			c = v[i]
		case c == '"':
			return "", false
		}
		if c < 0x20 && c != '\t' || c == 0x7f {
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// parseNode reads a node: IPv4, "[" IPv6 "]", "unknown" or "_obfuscated",
// each optionally followed by ":" and a port or obfuscated port.
func parseNode(node string) (netip.Addr, bool, error) {
	name, port := node, ""
	if strings.HasPrefix(node, "[") {
		end := strings.IndexByte(node, ']')
		if end < 0 {
			return netip.Addr{}, false, errMalformed
		}
		name, port = node[1:end], node[end+1:]
		if port != "" && port[0] != ':' {
			return netip.Addr{}, false, errMalformed
		}
	} else if i := strings.IndexByte(node, ':'); i >= 0 {
		name, port = node[:i], node[i:]
	}
	if port != "" && !validNodePort(port[1:]) {
		return netip.Addr{}, false, errMalformed
	}
	switch {
	case strings.EqualFold(name, "unknown") && !strings.HasPrefix(node, "["):
		return netip.Addr{}, false, nil
	case strings.HasPrefix(name, "_") && !strings.HasPrefix(node, "["):
		if !isObfuscated(name) {
			return netip.Addr{}, false, errMalformed
		}
		return netip.Addr{}, false, nil
	}
	a, err := netip.ParseAddr(name)
	if err != nil || a.Zone() != "" || a.Is6() != strings.HasPrefix(node, "[") {
		return netip.Addr{}, false, errMalformed
	}
	return canonical(a), true, nil
}

func validNodePort(p string) bool {
	if strings.HasPrefix(p, "_") {
		return isObfuscated(p)
	}
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}

// isObfuscated matches RFC 7239 obfnode/obfport: "_" 1*(ALPHA / DIGIT / "." / "_" / "-").
func isObfuscated(s string) bool {
	if len(s) < 2 || s[0] != '_' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// isToken matches an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// isNodeChars accepts an unquoted node that a lenient proxy wrote without
// the quotes RFC 7239 asks for around "[" and ":", e.g. for=[2001:db8::1].
func isNodeChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && !strings.ContainsRune("[]:._-", rune(c)) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
