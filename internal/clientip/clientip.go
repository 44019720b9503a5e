package clientip

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
)

// Bounds on the forwarding headers, counted from the right.
const (
	MaxHops        = 64      // elements considered
	MaxHeaderBytes = 8 << 10 // bytes considered, over all header lines
)

// ErrInvalidEntry is wrapped by every error New returns for a bad entry.
var ErrInvalidEntry = errors.New("invalid trusted proxy")

// Resolver finds the client address of a request. It is immutable after New
// and safe for concurrent use. A nil or zero Resolver trusts no proxy.
type Resolver struct {
	trusted []netip.Prefix // masked; IPv4 ranges in IPv4 form
}

// New parses the trusted proxies: CIDR prefixes ("10.0.0.0/8",
// "fd00::/8") or bare addresses ("127.0.0.1" means 127.0.0.1/32). Every bad
// entry is reported, each error naming its entry and wrapping
// ErrInvalidEntry. An empty list trusts nobody.
func New(trustedCIDRs []string) (*Resolver, error) {
	r := &Resolver{trusted: make([]netip.Prefix, 0, len(trustedCIDRs))}
	var errs []error
	for _, s := range trustedCIDRs {
		p, err := parseTrusted(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("clientip: %w %q: %s", ErrInvalidEntry, s, err))
			continue
		}
		r.trusted = append(r.trusted, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

func parseTrusted(s string) (netip.Prefix, error) {
	for i := 0; i < len(s); i++ {
		if s[i] != '/' {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not an IP address or CIDR prefix")
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, errors.New("not an IP address or CIDR prefix")
	}
	if a.Zone() != "" {
		return netip.Prefix{}, errors.New("zones are not allowed")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ClientIP returns the client's address. remoteAddr is the TCP peer as
// net/http gives it ("ip:port"; a bare IP is accepted too); h holds the
// request headers. The result is the zero Addr only when remoteAddr does not
// parse.
func (r *Resolver) ClientIP(remoteAddr string, h http.Header) netip.Addr {
	peer, ok := parsePeer(remoteAddr)
	if !ok || !r.isTrusted(peer) {
		return peer
	}
	lines, fwd := h.Values("Forwarded"), true
	if len(lines) == 0 {
		lines, fwd = h.Values("X-Forwarded-For"), false
	}
	if len(lines) == 0 {
		return peer
	}
	if a, ok := r.walk(lines, fwd); ok {
		return a
	}
	return peer
}

// walk reads the hops from the right. ok is false when the header is
// malformed or names no usable hop, in which case the peer is the answer.
func (r *Resolver) walk(lines []string, forwarded bool) (netip.Addr, bool) {
	hr := hopReader{lines: lines, budget: MaxHeaderBytes, forwarded: forwarded}
	parse := parseXFF
	if forwarded {
		parse = parseForwarded
	}
	var last netip.Addr // left-most trusted hop read so far
	for range MaxHops {
		elem, done, err := hr.next()
		if err != nil {
			return netip.Addr{}, false
		}
		if done {
			break
		}
		a, known, err := parse(elem)
		if err != nil {
			return netip.Addr{}, false
		}
		if !known {
			break
		}
		if !r.isTrusted(a) {
			return a, true
		}
		last = a
	}
	return last, last.IsValid()
}

func (r *Resolver) isTrusted(a netip.Addr) bool {
	if r == nil {
		return false
	}
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func parsePeer(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return canonical(ap.Addr()), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return canonical(a), true
	}
	return netip.Addr{}, false
}

func canonical(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }
