package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/client"
	"github.com/rampart-rt/rampart/protocol"
)

func TestRoundTrip(t *testing.T) {
	srv := startServer(t, nil)
	c := srv.dial(t, "alice", client.Config{})
	ctx := ctxFor(t)
	if w := c.Welcome(); w.User != "alice" || w.Client == "" || w.MaxMessageBytes == 0 || w.ExpiresAt.IsZero() {
		t.Fatalf("Welcome() = %+v", w)
	}
	got := newCollector()
	sub, err := c.Subscribe(ctx, "chat:room", got.publication)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	for i := 1; i <= 3; i++ {
		off, err := c.Publish(ctx, "chat:room", map[string]int{"n": i})
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if off != uint64(i) {
			t.Fatalf("Publish returned offset %d, want %d", off, i)
		}
	}
	pubs := got.waitPubs(t, 3)
	checkSequence(t, pubs, 1, 3)
	if p := pubs[2]; string(p.Data) != `{"n":3}` || p.User != "alice" || p.Channel != "chat:room" || p.Epoch == "" {
		t.Fatalf("publication = %+v", p)
	}
	if pos := sub.Position(); pos.Offset != 3 {
		t.Fatalf("Position() = %+v, want offset 3", pos)
	}

	hist, pos, err := c.History(ctx, "chat:room", 2)
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	if len(hist) != 2 || hist[0].Offset != 2 || hist[1].Offset != 3 || pos.Offset != 3 || pos.Epoch != pubs[0].Epoch {
		t.Fatalf("History = %v %+v", offsets(hist), pos)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	if _, err := c.Publish(ctx, "chat:room", "after"); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if err := c.Ping(ctx); err != nil { // the publication, if sent, came before this reply
		t.Fatalf("Ping: %v", err)
	}
	if pubs, _ := got.snapshot(); len(pubs) != 3 {
		t.Fatalf("handler ran after Unsubscribe: %v", offsets(pubs))
	}
	if _, err := c.Subscribe(ctx, "chat:room", got.publication); err != nil {
		t.Fatalf("Subscribe again after Unsubscribe: %v", err)
	}
}

func TestErrorReplies(t *testing.T) {
	srv := startServer(t, nil)
	c := srv.dial(t, "bob", client.Config{})
	ctx := ctxFor(t)
	tests := []struct {
		name string
		run  func() error
		code protocol.Code
	}{
		{"publish without the role", func() error {
			_, err := c.Publish(ctx, "news:today", "hello")
			return err
		}, protocol.CodeForbidden},
		{"subscribe to a channel no rule grants", func() error {
			_, err := c.Subscribe(ctx, "secret:x", func(client.Publication) {})
			return err
		}, protocol.CodeForbidden},
		{"invalid channel name", func() error {
			_, err := c.Subscribe(ctx, "bad channel!", func(client.Publication) {})
			return err
		}, protocol.CodeBadRequest},
		{"negative history limit", func() error {
			_, _, err := c.History(ctx, "chat:x", -1)
			return err
		}, protocol.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not a *client.Error", err, err)
			}
			if e.Code != tt.code || e.RequestID == "" || e.Message == "" {
				t.Fatalf("error = %+v, want code %s with a request id", e, tt.code)
			}
		})
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("connection unusable after error replies: %v", err)
	}
}

func TestAlreadySubscribed(t *testing.T) {
	srv := startServer(t, nil)
	c := srv.dial(t, "bob", client.Config{})
	ctx := ctxFor(t)
	if _, err := c.Subscribe(ctx, "chat:dup", func(client.Publication) {}); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if _, err := c.Subscribe(ctx, "chat:dup", func(client.Publication) {}); !errors.Is(err, client.ErrAlreadySubscribed) {
		t.Fatalf("second Subscribe: %v, want ErrAlreadySubscribed", err)
	}
}

func TestMessageTooBig(t *testing.T) {
	srv := startServer(t, func(cfg *rampart.Config) { cfg.Limits.MaxMessageBytes = 256 })
	c := srv.dial(t, "bob", client.Config{})
	ctx := ctxFor(t)
	big := make([]byte, 300)
	for i := range big {
		big[i] = 'x'
	}
	if _, err := c.Publish(ctx, "chat:x", string(big)); !errors.Is(err, client.ErrMessageTooBig) {
		t.Fatalf("Publish of a big message: %v, want ErrMessageTooBig", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("connection unusable after a refused big message: %v", err)
	}
}

func TestHandshakeRefused(t *testing.T) {
	srv := startServer(t, nil)
	forged := mint(t, "mallory", time.Hour)
	forged = forged[:len(forged)-2] + "xx" // signature no longer matches
	tests := []struct {
		name  string
		token string
	}{
		{"bad signature", forged},
		{"expired", mint(t, "alice", -time.Hour)},
		{"not a jwt", "hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen states
			c, err := client.Dial(ctxFor(t), client.Config{URL: srv.url, Token: staticToken(tt.token), OnState: seen.record})
			if err == nil {
				_ = c.Close()
				t.Fatal("Dial succeeded with a bad token")
			}
			var he *client.HandshakeError
			if !errors.As(err, &he) {
				t.Fatalf("error %v (%T) is not a *client.HandshakeError", err, err)
			}
			if he.StatusCode != http.StatusUnauthorized || he.RequestID == "" || he.Code != "unauthorized" {
				t.Fatalf("HandshakeError = %+v, want 401 unauthorized with a request id", he)
			}
			if len(seen.seen) != 1 || seen.seen[0] != client.StateConnecting {
				t.Fatalf("states %v, want only connecting", seen.seen)
			}
		})
	}
}

func TestDialChecksConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  client.Config
	}{
		{"no token", client.Config{URL: "ws://127.0.0.1:1/ws"}},
		{"plaintext to a remote host", client.Config{URL: "ws://example.com/ws", Token: staticToken("t")}},
		{"http scheme", client.Config{URL: "http://127.0.0.1/ws", Token: staticToken("t")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := client.Dial(ctxFor(t), tt.cfg); err == nil {
				_ = c.Close()
				t.Fatal("Dial accepted the config")
			}
		})
	}
}

// TestRefresh: the token lasts 3s and the server asks for a new one 2s
// before expiry; the client answers by itself and the connection outlives
// the first token.
func TestRefresh(t *testing.T) {
	srv := startServer(t, func(cfg *rampart.Config) {
		cfg.Auth.RefreshWindow = 2 * time.Second
		cfg.Auth.Leeway = time.Millisecond
	})
	var calls atomic.Int32
	var seen states
	c := srv.dial(t, "alice", client.Config{
		Token: func(context.Context) (string, error) {
			calls.Add(1)
			return mint(t, "alice", 3*time.Second), nil
		},
		OnState: seen.record,
	})
	first := c.Welcome()
	time.Sleep(time.Until(first.ExpiresAt.Add(time.Second)))
	if err := c.Ping(ctxFor(t)); err != nil {
		t.Fatalf("Ping after the first token expired: %v", err)
	}
	if n := calls.Load(); n < 2 {
		t.Fatalf("Token called %d times, want a refresh", n)
	}
	now := c.Welcome()
	if now.Client != first.Client || seen.count(client.StateDisconnected) != 0 {
		t.Fatalf("the connection was replaced (client %s then %s, states %v)", first.Client, now.Client, seen.seen)
	}
	if !now.ExpiresAt.After(first.ExpiresAt) {
		t.Fatalf("Welcome().ExpiresAt not moved by the refresh: %v then %v", first.ExpiresAt, now.ExpiresAt)
	}
}

// TestReconnectRecovers is the contract of the client: a subscriber whose
// connection is cut (twice) while publications go on reconnects and hands
// every publication to its handler exactly once, in order.
func TestReconnectRecovers(t *testing.T) {
	srv := startServer(t, nil)
	var seen states
	logs := &logRecorder{}
	sub := srv.dial(t, "sub", client.Config{OnState: seen.record, Logger: slog.New(logs)})
	got := newCollector()
	ctx := ctxFor(t)
	if _, err := sub.Subscribe(ctx, "chat:recover", got.publication, client.OnRecoveryFailed(got.lost)); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	subConns := srv.ln.take()
	pub := srv.dial(t, "pub", client.Config{})
	srv.ln.take()

	const n = 60
	published := make(chan error, 1)
	progress := make(chan int, n)
	go func() {
		defer close(progress)
		for i := 1; i <= n; i++ {
			if _, err := pub.Publish(ctx, "chat:recover", i); err != nil {
				published <- err
				return
			}
			progress <- i
			time.Sleep(3 * time.Millisecond)
		}
		published <- nil
	}()
	for _, at := range []int{15, 35} {
		for i := range progress {
			if i == at {
				break
			}
		}
		cut(subConns)
		connected := seen.count(client.StateConnected)
		eventually(t, "the subscriber to reconnect", func() bool { return seen.count(client.StateConnected) > connected })
		subConns = srv.ln.take()
	}
	if err := <-published; err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got.waitPubs(t, n)
	if err := sub.Ping(ctx); err != nil { // a duplicate would have been read before this reply
		t.Fatalf("Ping: %v", err)
	}
	pubs, events := got.snapshot()
	checkSequence(t, pubs, 1, n)
	for i, p := range pubs {
		var v int
		if err := json.Unmarshal(p.Data, &v); err != nil || v != i+1 {
			t.Fatalf("publication %d carries %s", p.Offset, p.Data)
		}
	}
	for _, e := range events {
		if e == "lost" {
			t.Fatalf("recovery reported as failed: %v", events)
		}
	}
	if d := seen.count(client.StateDisconnected); d != 2 {
		t.Fatalf("saw %d disconnections, want 2", d)
	}
	recovered := 0
	for _, r := range logs.find("subscribed again") {
		recovered += int(r["recovered"].(int64))
	}
	if recovered == 0 {
		t.Fatal("no publication was recovered: the cuts missed the stream")
	}
	t.Logf("%d publications recovered after the cuts", recovered)
}

// TestRecoveryGap: history keeps 5 publications; 20 are published while
// the subscriber cannot reconnect, so the server cannot recover them and
// the subscription is told, in order with its publications.
func TestRecoveryGap(t *testing.T) {
	srv := startServer(t, nil)
	release := make(chan struct{})
	blocked := make(chan struct{}, 1)
	var dials atomic.Int32
	tok := mint(t, "sub", time.Hour)
	sub := srv.dial(t, "sub", client.Config{Token: func(ctx context.Context) (string, error) {
		if dials.Add(1) > 1 { // every reconnect waits for the test
			select {
			case blocked <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		return tok, nil
	}})
	var lostAt, nowAt client.Position
	got := newCollector()
	ctx := ctxFor(t)
	_, err := sub.Subscribe(ctx, "gap:x", got.publication, client.OnRecoveryFailed(func(lost, now client.Position) {
		lostAt, nowAt = lost, now
		got.lost(lost, now)
	}))
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	subConns := srv.ln.take()
	pub := srv.dial(t, "pub", client.Config{})
	for i := 1; i <= 2; i++ {
		if _, err := pub.Publish(ctx, "gap:x", i); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	got.waitPubs(t, 2)

	cut(subConns)
	select {
	case <-blocked:
	case <-time.After(waitFor):
		t.Fatal("the subscriber did not try to reconnect")
	}
	for i := 3; i <= 22; i++ {
		if _, err := pub.Publish(ctx, "gap:x", i); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	close(release)
	eventually(t, "the loss to be reported", func() bool {
		_, events := got.snapshot()
		return len(events) == 3
	})
	if _, err := pub.Publish(ctx, "gap:x", 23); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	pubs := got.waitPubs(t, 3)
	_, events := got.snapshot()
	if got, want := offsets(pubs), []uint64{1, 2, 23}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("handled offsets %v, want %v", got, want)
	}
	if events[2] != "lost" || events[3] != "pub" {
		t.Fatalf("events %v: want the loss reported before publication 23", events)
	}
	if lostAt.Offset != 2 || nowAt.Offset != 22 || lostAt.Epoch != nowAt.Epoch {
		t.Fatalf("loss reported from %+v to %+v, want offsets 2 and 22", lostAt, nowAt)
	}
}

// TestPolicyCloseStops: a close the client must not retry (1008, too many
// invalid messages) stops it, and Err says why.
func TestPolicyCloseStops(t *testing.T) {
	srv := startServer(t, func(cfg *rampart.Config) { cfg.Limits.MaxViolations = 1 })
	var seen states
	c := srv.dial(t, "bob", client.Config{OnState: seen.record})
	ctx := ctxFor(t)
	for range 3 {
		_, _ = c.Publish(ctx, "news:x", 1) // forbidden: a violation each
	}
	select {
	case <-c.Done():
	case <-time.After(waitFor):
		t.Fatal("client still running after close 1008")
	}
	var ce *client.CloseError
	if err := c.Err(); !errors.Is(err, client.ErrClosed) || !errors.As(err, &ce) || ce.Code != 1008 {
		t.Fatalf("Err() = %v, want ErrClosed with close 1008", c.Err())
	}
	if err := c.Ping(ctx); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Ping after the stop: %v, want ErrClosed", err)
	}
	if seen.count(client.StateClosed) != 1 || seen.count(client.StateConnecting) != 1 {
		t.Fatalf("states %v: want one connect and closed, no reconnect", seen.seen)
	}
}

func TestClose(t *testing.T) {
	srv := startServer(t, nil)
	var seen states
	c := srv.dial(t, "bob", client.Config{OnState: seen.record})
	ctx := ctxFor(t)
	if _, err := c.Subscribe(ctx, "chat:x", func(client.Publication) {}); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Publish(ctx, "chat:x", 1); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Publish after Close: %v, want ErrClosed", err)
	}
	if seen.count(client.StateClosed) != 1 || seen.count(client.StateDisconnected) != 0 {
		t.Fatalf("states %v", seen.seen)
	}
}

func TestTLS(t *testing.T) {
	ts, _ := newServer(t, nil)
	ts.StartTLS()
	roots := x509.NewCertPool()
	roots.AddCert(ts.Certificate())
	url := "wss" + strings.TrimPrefix(ts.URL, "https") + "/ws"
	tok := staticToken(mint(t, "alice", time.Hour))
	c, err := client.Dial(ctxFor(t), client.Config{URL: url, Token: tok, TLSConfig: &tls.Config{RootCAs: roots}})
	if err != nil {
		t.Fatalf("Dial over TLS: %v", err)
	}
	defer c.Close()
	if err := c.Ping(ctxFor(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if c, err := client.Dial(ctxFor(t), client.Config{URL: url, Token: tok}); err == nil {
		_ = c.Close()
		t.Fatal("Dial trusted a certificate outside the system roots")
	}
}

func TestOrigin(t *testing.T) {
	srv := startServer(t, func(cfg *rampart.Config) {
		cfg.Origins = rampart.Origins{Allow: []string{"https://app.example.com"}}
	})
	srv.dial(t, "alice", client.Config{Origin: "https://app.example.com"})
	for _, origin := range []string{"", "https://evil.example.net"} {
		c, err := client.Dial(ctxFor(t), client.Config{URL: srv.url, Origin: origin, Token: staticToken(mint(t, "alice", time.Hour))})
		if err == nil {
			_ = c.Close()
			t.Fatalf("Dial with origin %q succeeded", origin)
		}
		var he *client.HandshakeError
		if !errors.As(err, &he) || he.StatusCode != http.StatusForbidden {
			t.Fatalf("Dial with origin %q: %v, want a 403 HandshakeError", origin, err)
		}
	}
}

// TestCloseWhileReconnecting: Close ends a reconnect waiting on Token.
func TestCloseWhileReconnecting(t *testing.T) {
	srv := startServer(t, nil)
	blocked := make(chan struct{})
	var dials atomic.Int32
	tok := mint(t, "sub", time.Hour)
	c := srv.dial(t, "sub", client.Config{Token: func(ctx context.Context) (string, error) {
		if dials.Add(1) > 1 {
			close(blocked)
			<-ctx.Done()
			return "", ctx.Err()
		}
		return tok, nil
	}})
	cut(srv.ln.take())
	<-blocked
	errc := make(chan error, 1)
	go func() { errc <- c.Ping(context.Background()) }() // waits for a connection
	done := make(chan struct{})
	go func() { _ = c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatal("Close did not return while reconnecting")
	}
	if err := <-errc; !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Ping waiting for a connection: %v, want ErrClosed", err)
	}
	if !errors.Is(c.Err(), client.ErrClosed) {
		t.Fatalf("Err() = %v", c.Err())
	}
}
