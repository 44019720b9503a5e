package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Special role names in a rule's role lists.
const (
	RoleAny  = "*"    // any authenticated user
	RoleSelf = "self" // the user named by {sub} in the rule's pattern
)

// SubPlaceholder stands for the caller's user id in a pattern. It must be
// a whole name segment, and it matches exactly one: a user id that is not
// a valid segment (empty, over 128 bytes, a byte outside the channel
// alphabet, or a SegmentSeparator) matches no {sub} rule at all, so that
// "bob:x" can never reach into bob's channels.
const SubPlaceholder = "{sub}"

// SegmentSeparator separates the segments of a channel name.
const SegmentSeparator = ":"

// Rule is one entry of the channels list. The zero value grants nothing.
type Rule struct {
	Pattern      string   `yaml:"pattern"`       // glob: * matches one or more characters; {sub} the caller's user id
	Subscribe    []string `yaml:"subscribe"`     // roles allowed to subscribe (and read history and presence)
	Publish      []string `yaml:"publish"`       // roles allowed to publish
	History      History  `yaml:"history"`       // publications kept for history and recovery; zero: none
	Schema       string   `yaml:"schema"`        // JSON Schema file for publish data; empty: any JSON
	SanitizeHTML bool     `yaml:"sanitize_html"` // neutralise markup in string values of published data
	Presence     bool     `yaml:"presence"`      // track who is subscribed
	Audit        bool     `yaml:"audit"`         // log every publish (who, size; never the body)

	PresenceRoles []string `yaml:"presence_roles"` // only subscribers with one of these roles read presence and hear joins and leaves; empty: every subscriber; needs presence
	JoinLeave     bool     `yaml:"join_leave"`     // push join and leave to the subscribers that may read presence; default false; needs presence
}

// History bounds what a channel keeps.
type History struct {
	Size int           `yaml:"size"` // publications kept per channel; 0: none
	TTL  time.Duration `yaml:"ttl"`  // how long each is kept; 0 with a size: 10m
}

// Action is what a caller wants to do on a channel.
type Action int

// The channel actions a rule decides.
const (
	Subscribe Action = iota // also history and presence
	Publish
)

// Identity is who is asking: the token's subject and roles.
type Identity struct {
	User  string
	Roles []string
}

// Rules is a compiled, ordered list of rules. It is immutable and safe for
// concurrent use.
type Rules struct {
	rules []compiled
}

type compiled struct {
	Rule
	hasSub bool
}

// MaxPatternLength bounds a rule's pattern.
const MaxPatternLength = 256

// Compile checks every rule and returns every problem at once.
func Compile(rules []Rule) (*Rules, error) {
	var errs []error
	out := &Rules{rules: make([]compiled, 0, len(rules))}
	for i, r := range rules {
		c, err := compile(r)
		var ke *keyError
		switch {
		case errors.As(err, &ke):
			errs = append(errs, fmt.Errorf("channels[%d].%s: %s", i, ke.key, ke.reason))
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("channels[%d]: %w", i, err))
			continue
		}
		out.rules = append(out.rules, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// keyError is a problem with one key of a rule.
type keyError struct{ key, reason string }

func (e *keyError) Error() string { return e.key + ": " + e.reason }

func compile(r Rule) (compiled, error) {
	c := compiled{Rule: r, hasSub: strings.Contains(r.Pattern, SubPlaceholder)}
	if err := checkPattern(r.Pattern); err != nil {
		return c, err
	}
	for _, roles := range [][]string{r.Subscribe, r.Publish, r.PresenceRoles} {
		for _, role := range roles {
			if role == "" {
				return c, errors.New("empty role name")
			}
			if role == RoleSelf && !c.hasSub {
				return c, fmt.Errorf("role %q needs %s in the pattern", RoleSelf, SubPlaceholder)
			}
		}
	}
	switch {
	case r.JoinLeave && !r.Presence:
		return c, &keyError{"join_leave", "needs presence: true (join and leave follow presence)"}
	case len(r.PresenceRoles) > 0 && !r.Presence:
		return c, &keyError{"presence_roles", "needs presence: true"}
	}
	if r.History.Size < 0 || r.History.TTL < 0 {
		return c, errors.New("history size and ttl must not be negative")
	}
	if r.History.Size > 0 && r.History.TTL == 0 {
		c.History.TTL = 10 * time.Minute
	}
	return c, nil
}

// CheckGlob reports why p is not a channel glob (a pattern without
// {sub}: * matches one or more characters, every other character is one a
// channel name may hold), or nil.
func CheckGlob(p string) error {
	if strings.Contains(p, SubPlaceholder) {
		return fmt.Errorf("%s has no user here", SubPlaceholder)
	}
	return checkPattern(p)
}

func checkPattern(p string) error {
	if p == "" {
		return errors.New("pattern is empty")
	}
	if len(p) > MaxPatternLength {
		return fmt.Errorf("pattern longer than %d bytes", MaxPatternLength)
	}
	if strings.Count(p, SubPlaceholder) > 1 {
		return fmt.Errorf("pattern has %s more than once", SubPlaceholder)
	}
	if i := strings.Index(p, SubPlaceholder); i >= 0 {
		before, after := p[:i], p[i+len(SubPlaceholder):]
		if before != "" && !strings.HasSuffix(before, SegmentSeparator) || after != "" && !strings.HasPrefix(after, SegmentSeparator) {
			return fmt.Errorf("%s must be a whole name segment, between %q separators or the pattern's ends", SubPlaceholder, SegmentSeparator)
		}
	}
	rest := strings.Replace(p, SubPlaceholder, "", 1)
	for i := 0; i < len(rest); i++ {
		if ch := rest[i]; ch != '*' && !isChannelByte(ch) {
			return fmt.Errorf("pattern has character %q (allowed: A-Z a-z 0-9 _ . : @ -, * and %s)", ch, SubPlaceholder)
		}
	}
	return nil
}

// Match returns the first rule whose pattern matches channel for the user,
// or nil when none does.
func (rs *Rules) Match(channel, user string) *Rule {
	if rs == nil {
		return nil
	}
	for i := range rs.rules {
		r := &rs.rules[i]
		if r.matches(channel, user) {
			return &r.Rule
		}
	}
	return nil
}

// Allow reports whether id may perform action on channel, and the rule that
// decided (nil when no rule matched: denied).
func (rs *Rules) Allow(action Action, channel string, id Identity) (*Rule, bool) {
	r := rs.Match(channel, id.User)
	if r == nil {
		return nil, false
	}
	roles := r.Subscribe
	if action == Publish {
		roles = r.Publish
	}
	return r, grants(roles, id.Roles, strings.Contains(r.Pattern, SubPlaceholder))
}

// AllowPresence reports whether id may read channel's presence: subscribe
// to it, and hold one of the rule's PresenceRoles when it lists any. It
// also returns the rule that decided (nil when none matched: denied).
// Whether presence is kept at all is the rule's Presence.
func (rs *Rules) AllowPresence(channel string, id Identity) (*Rule, bool) {
	r, ok := rs.Allow(Subscribe, channel, id)
	if !ok {
		return r, false
	}
	return r, r.MayReadPresence(id)
}

// MayReadPresence reports whether the rule's PresenceRoles admit id; it
// does not ask whether id may subscribe.
func (r *Rule) MayReadPresence(id Identity) bool {
	return len(r.PresenceRoles) == 0 || grants(r.PresenceRoles, id.Roles, strings.Contains(r.Pattern, SubPlaceholder))
}

// grants: a matched {sub} pattern already proved the channel is the caller's.
func grants(allowed, have []string, self bool) bool {
	for _, a := range allowed {
		switch a {
		case RoleAny:
			return true
		case RoleSelf:
			if self {
				return true
			}
		default:
			if slices.Contains(have, a) {
				return true
			}
		}
	}
	return false
}

func (r *compiled) matches(channel, user string) bool {
	if !r.hasSub {
		return Glob(r.Pattern, channel)
	}
	if !validSegment(user) {
		return false
	}
	return Glob(strings.Replace(r.Pattern, SubPlaceholder, user, 1), channel)
}

// Glob reports whether name matches pattern, where * matches one or more
// characters and every other character itself. It runs in O(len(pattern) *
// len(name)) at worst.
func Glob(pattern, name string) bool {
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n+1 // the star takes at least one character
			p++
			n++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			p, mark = star+1, mark+1
			n = mark
		default:
			return false
		}
	}
	return p == len(pattern) // a trailing * would need one more character
}

func isChannelByte(ch byte) bool {
	return ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' ||
		ch == '_' || ch == '.' || ch == ':' || ch == '@' || ch == '-'
}

// validSegment reports whether a user id can stand for {sub}: one whole
// segment of a channel name.
func validSegment(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isChannelByte(s[i]) || s[i] == SegmentSeparator[0] {
			return false
		}
	}
	return true
}

// MatchServer returns the first rule matching channel for the server
// itself (the HTTP API): {sub} stands for any valid user id.
func (rs *Rules) MatchServer(channel string) *Rule {
	if rs == nil {
		return nil
	}
	for i := range rs.rules {
		r := &rs.rules[i]
		p := r.Pattern
		if r.hasSub {
			p = strings.Replace(p, SubPlaceholder, "*", 1)
		}
		if Glob(p, channel) {
			return &r.Rule
		}
	}
	return nil
}
