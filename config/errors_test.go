package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/rampart-rt/rampart/auth"
)

// goNames are the identifiers an operator never wrote: every field name of
// File (and what it embeds) and of the token verifier's Config that is not an ordinary abbreviation such as
// URL, plus the Go types keys decode into and the decoder's vocabulary.
func goNames() []string {
	names, seen := map[string]bool{}, map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t.PkgPath() == "time" || seen[t] {
			return
		}
		seen[t] = true
		names[t.Name()] = true
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue // not a key: the compiled settings File keeps, say
			}
			names[f.Name] = true
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[File]())
	walk(reflect.TypeFor[auth.Config]()) // the token verifier's own messages pass through
	out := []string{"time.Duration", "Duration", "int64", "float64", "string", "[]", "map[", "*bool", "!!", "unmarshal", "rampart."}
	for n := range names {
		if strings.ToUpper(n) != n || len(n) > 4 { // URL, TLS, API, RPC, DB, NATS read as words
			out = append(out, n)
		}
	}
	return out
}

// containsWord reports whether name appears in msg not as part of a longer word.
func containsWord(msg, name string) bool {
	for i := 0; ; {
		j := strings.Index(msg[i:], name)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(name)
		isWord := func(r byte) bool { return r == '_' || unicode.IsLetter(rune(r)) || unicode.IsDigit(rune(r)) }
		if (j == 0 || !isWord(msg[j-1])) && (end == len(msg) || !isWord(msg[end])) {
			return true
		}
		i = j + 1
	}
}

// Every problem names the key as written in the file, the line (or the
// variable that set the value) and the reason, and never a Go field or type.
const hooksKey = "RAMPART_HOOKS_KEY=0123456789abcdef0123456789abcdef"

func TestErrorsNameKeyAndLine(t *testing.T) {
	dir := t.TempDir()
	shortSecret := filepath.Join(dir, "short-secret")
	if err := os.WriteFile(shortSecret, []byte("too short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noSecret := []string{}
	tests := []struct {
		name, src string
		env       []string // nil: the secret
		want      string   // a whole line of the error
	}{
		// durations
		{"duration is a word", "limits:\n  write_timeout: banana\n", nil,
			`c.yaml:2: limits.write_timeout: "banana" is not a duration (a number and a unit: 500ms, 5s, 10m, 1h)`},
		{"duration without unit", "limits:\n  ping_interval: 30\n", nil,
			`c.yaml:2: limits.ping_interval: "30" has no unit: write a duration such as 5s or 500ms`},
		{"duration is a list", "auth:\n  leeway: [5s]\n", nil,
			`c.yaml:2: auth.leeway: must be a duration (a number and a unit: 500ms, 5s, 10m, 1h), not a list`},
		{"duration in a channel", "channels:\n  - pattern: \"a:*\"\n    history: { size: 5, ttl: soon }\n", nil,
			`c.yaml:3: channels[0].history.ttl: "soon" is not a duration (a number and a unit: 500ms, 5s, 10m, 1h)`},
		// whole numbers
		{"int is a word", "limits:\n  burst: lots\n", nil, `c.yaml:2: limits.burst: "lots" is not a whole number`},
		{"int is a fraction", "limits:\n  max_message_bytes: 1.5k\n", nil, `c.yaml:2: limits.max_message_bytes: "1.5k" is not a whole number`},
		{"int is a mapping", "limits:\n  send_queue: {size: 3}\n", nil, `c.yaml:2: limits.send_queue: must be a whole number, not a mapping`},
		{"int in a channel", "channels:\n  - pattern: \"a:*\"\n    history:\n      size: many\n", nil,
			`c.yaml:4: channels[0].history.size: "many" is not a whole number`},
		// true or false
		{"bool is a word", "origins:\n  allow_missing: sometimes\n", nil, `c.yaml:2: origins.allow_missing: "sometimes" is not true or false`},
		{"optional bool", "\n\nrequire_subprotocol: perhaps\n", nil, `c.yaml:3: require_subprotocol: "perhaps" is not true or false`},
		{"bool in a channel", "channels:\n  - pattern: \"a:*\"\n    presence: 2\n", nil, `c.yaml:3: channels[0].presence: "2" is not true or false`},
		// lists and mappings
		{"list is one value", "origins:\n  allow: https://app.example.com\n", nil,
			`c.yaml:2: origins.allow: must be a list, like [a, b], not the single value "https://app.example.com"`},
		{"list item is a mapping", "auth:\n  algorithms:\n    - HS256\n    - {name: RS256}\n", nil,
			`c.yaml:4: auth.algorithms[1]: must be a single value, not a mapping`},
		{"roles are one value", "channels:\n  - pattern: \"a:*\"\n    subscribe: user\n", nil,
			`c.yaml:3: channels[0].subscribe: must be a list, like [a, b], not the single value "user"`},
		{"channels is a mapping", "channels:\n  pattern: \"a:*\"\n", nil, `c.yaml:2: channels: must be a list, like [a, b], not a mapping`},
		{"section is one value", "limits: 5\n", nil, `c.yaml:1: limits: must be a mapping of keys (key: value), not the single value "5"`},
		{"methods are a list", "rpc:\n  url: http://127.0.0.1:9000/rpc\n  methods: [read]\n", nil,
			`c.yaml:3: rpc.methods: must be a mapping (name: value), not a list`},
		{"a method's roles", "rpc:\n  url: http://127.0.0.1:9000/rpc\n  methods:\n    read: user\n", nil,
			`c.yaml:4: rpc.methods.read: must be a list, like [a, b], not the single value "user"`},
		// unknown keys
		{"unknown key", "limits:\n  burst: 20\n  max_conections: 5\n", nil,
			"c.yaml:3: limits.max_conections: unknown key (known here: burst, handshakes_per_ip_per_minute,"},
		{"unknown key in a channel", "channels:\n  - pattern: \"a:*\"\n  - pattern: \"b:*\"\n    subscrib: [user]\n", nil,
			"c.yaml:4: channels[1].subscrib: unknown key"},
		// the environment
		{"variable of the wrong kind", "", []string{secret, "RAMPART_LIMITS_BURST=many"},
			`RAMPART_LIMITS_BURST: limits.burst: "many" is not a whole number`},
		{"variable with a bad channel", "", []string{secret, `RAMPART_CHANNELS=[{pattern: "a:*", history: {ttl: soon}}]`},
			`RAMPART_CHANNELS: channels[0].history.ttl: "soon" is not a duration (a number and a unit: 500ms, 5s, 10m, 1h)`},
		// join and leave
		{"join_leave without presence", "channels:\n  - pattern: \"a:*\"\n    subscribe: [\"*\"]\n    join_leave: true\n", nil,
			"c.yaml:4: channels[0].join_leave: needs presence: true (join and leave follow presence)"},
		{"presence_roles without presence", "channels:\n  - pattern: \"a:*\"\n    presence_roles: [member]\n", nil,
			"c.yaml:3: channels[0].presence_roles: needs presence: true"},
		{"presence_roles is one value", "channels:\n  - pattern: \"a:*\"\n    presence: true\n    presence_roles: member\n", nil,
			`c.yaml:4: channels[0].presence_roles: must be a list, like [a, b], not the single value "member"`},
		{"join_leave window too short", "limits:\n  join_leave_window: 1ms\n", nil,
			"c.yaml:2: limits.join_leave_window: must be between 10ms and 1m, not 1ms"},
		{"join_leave cap too large", "limits:\n  join_leave_max_clients: 20000\n", nil,
			"c.yaml:2: limits.join_leave_max_clients: must be between 1 and 10000, not 20000"},
		{"variable out of range", "", []string{secret, "RAMPART_LIMITS_SEND_QUEUE=-3"},
			"RAMPART_LIMITS_SEND_QUEUE: limits.send_queue: must be between 1 and 65536, not -3"},
		// secrets
		{"missing secret", "limits:\n  burst: 20\n", noSecret,
			"c.yaml: auth.hmac_secret_env: RAMPART_JWT_SECRET is not set: put the HMAC secret (at least 32 bytes) in it, or name a file holding it in auth.hmac_secret_file"},
		{"short secret", "", []string{"RAMPART_JWT_SECRET=short"},
			"c.yaml: auth.hmac_secret_env: RAMPART_JWT_SECRET holds 5 bytes; the HMAC secret needs at least 32"},
		{"secret in a variable the file names", "auth:\n  algorithms: [HS256]\n  hmac_secret_env: APP_JWT_SECRET\n", noSecret,
			"c.yaml:3: auth.hmac_secret_env: APP_JWT_SECRET is not set"},
		{"secret file too short", "auth:\n  hmac_secret_file: " + shortSecret + "\n", noSecret,
			"c.yaml:2: auth.hmac_secret_file: the file holds 9 bytes; the HMAC secret needs at least 32"},
		{"secret that looks like a key", "", []string{"RAMPART_JWT_SECRET=-----BEGIN PUBLIC KEY----- 0123456789abcdef0123456789"},
			"c.yaml: auth.hmac_secret_env: the HMAC secret in RAMPART_JWT_SECRET looks like a PEM key"},
		// the backend hooks
		{"hooks key missing", "hooks:\n  connect:\n    url: http://127.0.0.1:9000/connect\n", nil,
			"c.yaml: hooks.key_env: RAMPART_HOOKS_KEY is not set: a hook is configured, and its requests are signed with the key (at least 32 bytes)"},
		{"hooks key short", "hooks:\n  key_env: APP_HOOKS_KEY\n  notify: { url: \"https://app.example.com/events\" }\n", []string{secret, "APP_HOOKS_KEY=short"},
			"c.yaml:2: hooks.key_env: APP_HOOKS_KEY holds 5 bytes; the hooks' signing key needs at least 32"},
		{"hooks previous key unset", "hooks:\n  previous_key_env: OLD_HOOKS_KEY\n  notify: { url: \"https://app.example.com/events\" }\n", []string{secret, hooksKey},
			"c.yaml:2: hooks.previous_key_env: OLD_HOOKS_KEY is not set: name the variable that holds the key being retired, or remove hooks.previous_key_env"},
		{"hooks previous key short", "hooks:\n  previous_key_env: OLD_HOOKS_KEY\n  notify: { url: \"https://app.example.com/events\" }\n", []string{secret, hooksKey, "OLD_HOOKS_KEY=short"},
			"c.yaml:2: hooks.previous_key_env: the hooks' previous signing key needs at least 32 bytes, not 5"},
		{"hooks previous key twice", "hooks:\n  previous_key_env: OLD_HOOKS_KEY\n  previous_key_file: old.key\n  notify: { url: \"https://app.example.com/events\" }\n", []string{secret, hooksKey},
			"c.yaml:3: hooks.previous_key_file: give hooks.previous_key_env or hooks.previous_key_file, not both"},
		{"hooks connect channels", "hooks:\n  connect:\n    url: https://app.example.com/c\n    channels: [\"chat:*\"]\n", []string{secret, hooksKey},
			"c.yaml:4: hooks.connect.channels: the connect hook is asked about connections, not channels: remove it"},
		{"hooks channels glob", "hooks:\n  publish:\n    url: https://app.example.com/p\n    channels: [\"chat:*\", \"bad channel\"]\n", []string{secret, hooksKey},
			`c.yaml:4: hooks.publish.channels[1]: pattern has character ' '`},
		{"hooks plain http afar", "hooks:\n  connect:\n    url: http://backend.internal/connect\n", []string{secret, hooksKey},
			`c.yaml:3: hooks.connect.url: plain http to the non-loopback host "backend.internal": use https, or set the loud hooks.insecure_allow_http: true`},
		{"hooks on_error", "hooks:\n  publish:\n    url: https://app.example.com/p\n    on_error: ignore\n", []string{secret, hooksKey},
			`c.yaml:4: hooks.publish.on_error: must be deny or allow, not "ignore"`},
		{"hooks url with credentials", "hooks:\n  subscribe: { url: \"https://u:p@app.example.com/s\" }\n", []string{secret, hooksKey},
			`c.yaml:2: hooks.subscribe.url: must be an http or https URL without credentials or fragment`},
		// the token verifier's own checks
		{"algorithm nothing verifies", "auth:\n  algorithms: [RS256]\n", noSecret,
			"c.yaml:2: auth.algorithms: algorithm RS256 is allowed but no public key fits it and no auth.jwks_url is set"},
		{"jwks without issuer", "auth:\n  algorithms: [RS256]\n  jwks_url: \"https://id.example.com/jwks\"\n", noSecret,
			"c.yaml:3: auth.jwks_url: auth.jwks_url requires auth.issuer: JWKS keys are bound to one issuer"},
		// syntax
		{"syntax", "limits:\n  burst: 5\n  ping_interval: [5s\n", nil, "c.yaml:3: limits.ping_interval: not valid YAML at or after this key:"},
		{"indentation", "limits:\n  burst: 5\n pong_timeout: 5s\n", nil, "c.yaml:3: limits.burst: not valid YAML at or after this key:"},
		{"unterminated quote", "limits:\n  burst: 5\nlisten: \"127.0.0.1:80\nlog: {}\n", nil, "c.yaml:3: listen: not valid YAML at or after this key:"},
		{"tab", "limits:\n\tburst: 5\n", nil, "c.yaml:2: limits: not valid YAML at or after this key:"},
		{"two colons", "limits:\n  burst: 5\n  ping_interval: a: b\n", nil, "c.yaml:3: limits.ping_interval: not valid YAML at or after this key:"},
	}
	names := goNames()
	if !slices.Contains(names, "HMACSecret") || !slices.Contains(names, "MaxMessageBytes") || !slices.Contains(names, "JWKSURL") {
		t.Fatalf("the Go names to look for are incomplete: %v", names)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			if env == nil {
				env = []string{secret}
			}
			_, err := Parse("c.yaml", []byte(tt.src), env)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			found := false
			for line := range strings.Lines(msg) {
				found = found || strings.HasPrefix(line, tt.want)
			}
			if !found {
				t.Errorf("no line starts with\n\t%s\nin\n\t%s", tt.want, strings.ReplaceAll(msg, "\n", "\n\t"))
			}
			for _, n := range names {
				if containsWord(msg, n) {
					t.Errorf("the message names %q, which the file does not:\n%s", n, msg)
				}
			}
		})
	}
}

// Every line of an error says where: a file line, a variable or a flag.
func TestEveryProblemSaysWhere(t *testing.T) {
	src := "listen: \"0.0.0.0:8080\"\nlimits:\n  burst: 0\n  pong_timeout: 0s\n  ping_interval: 2\nauth: {leeway: -1s}\n"
	_, err := Parse("c.yaml", []byte(src), []string{secret})
	if err == nil {
		t.Fatal("accepted")
	}
	where := regexp.MustCompile(`^(c\.yaml:\d+|RAMPART_[A-Z_]+|--[a-z-]+): [a-z_.\[\]0-9]+: `)
	for line := range strings.Lines(err.Error()) {
		if !where.MatchString(line) {
			t.Errorf("line without file:line and key: %q", line)
		}
	}
}

// Problems come in the file's order, then those a variable, a flag or a
// secret caused; each names its key, never a Go field.
func TestProblemsAreSortedByLine(t *testing.T) {
	src := "listen: \"127.0.0.1:8080\"\nlimits:\n  burst: 0\n  max_message_bytes: 5\nchannels:\n  - pattern: \"a/b\"\nauth:\n  leeway: 1h\npath: \"nope\"\n"
	_, err := Parse("bad.yaml", []byte(src), nil)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, got %v", err)
	}
	var lines []int
	seenNoLine := false
	for _, p := range e.Problems {
		rest, ok := strings.CutPrefix(p.Where, "bad.yaml:")
		if !ok {
			seenNoLine = true
			continue
		}
		if seenNoLine {
			t.Fatalf("a problem with a line after one without: %v", e.Problems)
		}
		n, _ := strconv.Atoi(rest)
		lines = append(lines, n)
		if p.Key == "" || strings.ContainsAny(p.Key, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Fatalf("problem %v does not name a file key", p)
		}
	}
	if !slices.IsSorted(lines) || len(lines) < 5 {
		t.Fatalf("lines %v: want at least 5, in order", lines)
	}
}
