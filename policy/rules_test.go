package policy

import (
	"regexp"
	"strings"
	"testing"
)

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"news:*", "news:sports", true},
		{"news:*", "news:", false},
		{"news:*", "news", false},
		{"news:*", "newsx:a", false},
		{"*", "a", true},
		{"*", "", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "abc", false},
		{"a*b*c", "axbxc", true},
		{"a*c", "axcxc", true},
		{"chat", "chat", true},
		{"chat", "chat2", false},
		{"*:*", "a:b", true},
		{"*:*", ":b", false},
	}
	for _, tt := range tests {
		if got := Glob(tt.pattern, tt.name); got != tt.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func testRules(t *testing.T) *Rules {
	t.Helper()
	rs, err := Compile([]Rule{
		{Pattern: "news:*", Subscribe: []string{"user", "admin"}, Publish: []string{"admin"}},
		{Pattern: "user:{sub}", Subscribe: []string{RoleSelf}, Publish: []string{RoleSelf}},
		{Pattern: "public", Subscribe: []string{RoleAny}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestAllow(t *testing.T) {
	rs := testRules(t)
	alice := Identity{User: "alice", Roles: []string{"user"}}
	root := Identity{User: "root", Roles: []string{"admin"}}
	nobody := Identity{User: "eve"}
	tests := []struct {
		name    string
		action  Action
		channel string
		id      Identity
		want    bool
	}{
		{"user subscribes news", Subscribe, "news:a", alice, true},
		{"user may not publish news", Publish, "news:a", alice, false},
		{"admin publishes news", Publish, "news:a", root, true},
		{"no role, no news", Subscribe, "news:a", nobody, false},
		{"own channel", Subscribe, "user:alice", alice, true},
		{"own channel publish", Publish, "user:alice", alice, true},
		{"another's channel", Subscribe, "user:alice", root, false},
		{"prefix of own name", Subscribe, "user:alic", alice, false},
		{"any authenticated", Subscribe, "public", nobody, true},
		{"not granted action", Publish, "public", root, false},
		{"no rule", Subscribe, "secret", root, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, got := rs.Allow(tt.action, tt.channel, tt.id); got != tt.want {
				t.Fatalf("Allow = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	_, err := Compile([]Rule{
		{Pattern: ""},
		{Pattern: "a/b"},
		{Pattern: "x:*", Subscribe: []string{RoleSelf}},
		{Pattern: "{sub}:{sub}"},
		{Pattern: "ok", History: History{Size: -1}},
	})
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"channels[0]", "channels[1]", "channels[2]", "channels[3]", "channels[4]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestFirstMatchWins(t *testing.T) {
	rs, err := Compile([]Rule{
		{Pattern: "a:locked", Subscribe: []string{"admin"}},
		{Pattern: "a:*", Subscribe: []string{RoleAny}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rs.Allow(Subscribe, "a:locked", Identity{User: "u"}); ok {
		t.Fatal("the earlier, stricter rule must decide")
	}
	if _, ok := rs.Allow(Subscribe, "a:open", Identity{User: "u"}); !ok {
		t.Fatal("the later rule must grant")
	}
}

// FuzzGlob checks Glob against a regular expression doing the same thing.
func FuzzGlob(f *testing.F) {
	f.Add("news:*", "news:sports")
	f.Add("a*b*c", "axxbyyc")
	f.Add("**", "ab")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if len(pattern) > 64 || len(name) > 128 || !ascii(pattern) || !ascii(name) {
			return // channel names are ASCII; the reference below works on runes
		}
		var re strings.Builder
		re.WriteString("^")
		for _, r := range pattern {
			if r == '*' {
				re.WriteString("(?s:.+)")
			} else {
				re.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
		re.WriteString("$")
		rx, err := regexp.Compile(re.String())
		if err != nil {
			return
		}
		if got, want := Glob(pattern, name), rx.MatchString(name); got != want {
			t.Fatalf("Glob(%q, %q) = %v, regexp says %v", pattern, name, got, want)
		}
	})
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// A user id substituted for {sub} matches exactly one whole segment: a sub
// holding the separator, or any byte outside the channel alphabet, matches
// no {sub} rule, so that it cannot alias another user's channels.
func TestSubIsOneWholeSegment(t *testing.T) {
	rs, err := Compile([]Rule{
		{Pattern: "inbox:{sub}:*", Subscribe: []string{RoleSelf}, Publish: []string{RoleSelf}},
		{Pattern: "{sub}", Subscribe: []string{RoleSelf}},
		{Pattern: "dm:*:{sub}", Subscribe: []string{RoleSelf}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, channel string
		want          bool
	}{
		{"bob", "inbox:bob:secret", true},
		{"bob", "inbox:bob:x:secret", true},
		{"bob:x", "inbox:bob:x:secret", false}, // would read inside bob's space
		{"bob:x", "inbox:bob:x", false},
		{"bob:", "inbox:bob::x", false},
		{":bob", "inbox::bob:x", false},
		{"bo", "inbox:bob:x", false},
		{"bob*", "inbox:bob*:x", false},
		{"bob/x", "inbox:bob/x:y", false},
		{"bøb", "inbox:bøb:y", false},
		{"bob\x00", "inbox:bob\x00:y", false},
		{"", "inbox::y", false},
		{strings.Repeat("a", 129), "inbox:" + strings.Repeat("a", 129) + ":y", false},
		{"bob", "bob", true},
		{"bob:x", "bob:x", false},
		{"bob", "dm:alice:bob", true},
		{"x:bob", "dm:alice:x:bob", false},
		{"ice:bob", "dm:al:ice:bob", false},
	}
	for _, tt := range tests {
		for _, action := range []Action{Subscribe, Publish} {
			want := tt.want && (action == Subscribe || strings.HasPrefix(tt.channel, "inbox:"))
			if _, got := rs.Allow(action, tt.channel, Identity{User: tt.user}); got != want {
				t.Errorf("user %q, %s on %q: allowed %v, want %v", tt.user, []string{"subscribe", "publish"}[action], tt.channel, got, want)
			}
		}
	}
}

func TestSubMustBeAWholeSegmentOfThePattern(t *testing.T) {
	for _, p := range []string{"inbox{sub}", "inbox:{sub}x", "a.{sub}", "*{sub}", "{sub}*", "x:{sub}.y"} {
		if _, err := Compile([]Rule{{Pattern: p, Subscribe: []string{RoleSelf}}}); err == nil || !strings.Contains(err.Error(), "whole name segment") {
			t.Errorf("pattern %q: error %v, want a whole-segment refusal", p, err)
		}
	}
	for _, p := range []string{"{sub}", "user:{sub}", "{sub}:inbox", "a:{sub}:b", "a:*:{sub}"} {
		if _, err := Compile([]Rule{{Pattern: p, Subscribe: []string{RoleSelf}}}); err != nil {
			t.Errorf("pattern %q: %v", p, err)
		}
	}
}

// TestJoinLeaveRules: join_leave and presence_roles need presence, and
// the error names the key; presence_roles narrows who reads presence.
func TestJoinLeaveRules(t *testing.T) {
	_, err := Compile([]Rule{
		{Pattern: "a:*", Subscribe: []string{"*"}, JoinLeave: true},
		{Pattern: "b:*", Subscribe: []string{"*"}, PresenceRoles: []string{"mod"}},
		{Pattern: "c:*", Subscribe: []string{"*"}, Presence: true, PresenceRoles: []string{""}},
		{Pattern: "d:*", Subscribe: []string{"*"}, Presence: true, PresenceRoles: []string{RoleSelf}},
	})
	for _, want := range []string{"channels[0].join_leave: needs presence: true", "channels[1].presence_roles: needs presence: true",
		"channels[2]: empty role name", `channels[3]: role "self" needs {sub}`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	rs, err := Compile([]Rule{
		{Pattern: "room:*", Subscribe: []string{"*"}, Presence: true, JoinLeave: true, PresenceRoles: []string{"member"}},
		{Pattern: "open:*", Subscribe: []string{"user"}, Presence: true, JoinLeave: true},
		{Pattern: "me:{sub}", Subscribe: []string{RoleSelf}, Presence: true, PresenceRoles: []string{RoleSelf}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		channel string
		id      Identity
		want    bool
	}{
		{"room:1", Identity{User: "ann", Roles: []string{"member"}}, true},
		{"room:1", Identity{User: "ben"}, false}, // may subscribe, not read presence
		{"open:1", Identity{User: "ann", Roles: []string{"user"}}, true},
		{"open:1", Identity{User: "ann"}, false}, // may not even subscribe
		{"me:ann", Identity{User: "ann"}, true},
		{"none", Identity{User: "ann", Roles: []string{"member"}}, false},
	}
	for _, c := range cases {
		if _, got := rs.AllowPresence(c.channel, c.id); got != c.want {
			t.Errorf("AllowPresence(%s, %+v) = %v, want %v", c.channel, c.id, got, c.want)
		}
	}
}
