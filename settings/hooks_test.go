package settings

import (
	"slices"
	"testing"
	"time"
)

var hookKey = []byte("hooks-key-0123456789abcdef0123456789")

func TestHooksDefaultsAndChecks(t *testing.T) {
	c, err := Compile(Settings{Auth: Auth{HMACSecret: hookKey}})
	if err != nil {
		t.Fatal(err)
	}
	h := c.Settings().Hooks
	if h.Timeout != time.Second || h.MaxConcurrent != 64 || h.MaxResponseBytes != 64<<10 || h.Connect.OnError != "deny" ||
		h.Notify.Queue != 10000 || h.Notify.MaxAttempts != 5 || !slices.Equal(h.Notify.Events, []string{"connect", "disconnect"}) {
		t.Fatalf("defaults: %+v", h)
	}
	_, err = Compile(Settings{Auth: Auth{HMACSecret: hookKey}, Hooks: Hooks{
		Timeout:   time.Hour,
		Connect:   Hook{URL: "http://10.0.0.5/connect", OnError: "maybe"},
		Subscribe: Hook{URL: "ftp://127.0.0.1/s"},
		Publish:   Hook{URL: "http://[::1]:9000/p"}, // loopback: fine
		Notify:    Notify{URL: "https://app.example.com/e#frag", Events: []string{"join"}, Workers: 100},
	}})
	want := []string{"hooks.connect.url", "hooks.connect.on_error", "hooks.subscribe.url", "hooks.notify.url",
		"hooks.notify.events", "hooks.timeout", "hooks.notify.workers", "hooks.key_env"}
	if got := paths(err); !slices.Equal(got, want) {
		t.Fatalf("problems at\n\t%v\nwant\n\t%v\nin\n%v", got, want, err)
	}
	_, err = Compile(Settings{Auth: Auth{HMACSecret: hookKey}, Hooks: Hooks{
		Key: hookKey, InsecureAllowHTTP: true, Connect: Hook{URL: "http://10.0.0.5/connect", OnError: "allow"},
	}})
	if err != nil {
		t.Fatalf("insecure_allow_http: %v", err)
	}
}

// A Compiled keeps its own copy of the key and the events.
func TestHooksCloned(t *testing.T) {
	s := Settings{Auth: Auth{HMACSecret: hookKey}, Hooks: Hooks{Key: slices.Clone(hookKey),
		Notify: Notify{URL: "https://app.example.com/e", Events: []string{"disconnect"}}}}
	c, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	s.Hooks.Key[0], s.Hooks.Notify.Events[0] = 'X', "connect"
	if h := c.Settings().Hooks; h.Key[0] != 'h' || h.Notify.Events[0] != "disconnect" {
		t.Fatalf("the caller's change reached the compiled settings: %q %v", h.Key, h.Notify.Events)
	}
}
