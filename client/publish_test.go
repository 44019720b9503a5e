package client_test

import (
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/client"
)

// publishSetup is a server on a faultyBroker, a subscriber of one channel
// whose handler records into got, and a publisher whose connection the
// test can cut.
type publishSetup struct {
	b        *faultyBroker
	got      *collector
	pub      *client.Client
	pubConns []net.Conn // the publisher's connection, server side
}

func newPublishSetup(t *testing.T, channel string) *publishSetup {
	t.Helper()
	p := &publishSetup{b: newFaultyBroker(t), got: newCollector()}
	srv := startServer(t, func(cfg *rampart.Config) { cfg.Broker = p.b })
	sub := srv.dial(t, "sub", client.Config{})
	if _, err := sub.Subscribe(ctxFor(t), channel, p.got.publication); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	srv.ln.take()
	p.pub = srv.dial(t, "pub", client.Config{})
	p.pubConns = srv.ln.take()
	return p
}

// publish publishes data and fails the test unless it was answered with
// offset want.
func (p *publishSetup) publish(t *testing.T, channel string, data any, want uint64, opts ...client.PublishOption) {
	t.Helper()
	off, err := p.pub.Publish(ctxFor(t), channel, data, opts...)
	if err != nil {
		t.Fatalf("Publish(%v): %v", data, err)
	}
	if off != want {
		t.Fatalf("Publish(%v) = offset %d, want %d", data, off, want)
	}
}

// checkData fails unless the publications carry data, in order.
func checkData(t *testing.T, pubs []client.Publication, data ...string) {
	t.Helper()
	var got []string
	for _, p := range pubs {
		got = append(got, string(p.Data))
	}
	if strings.Join(got, " ") != strings.Join(data, " ") {
		t.Fatalf("publications carry %v, want %v", got, data)
	}
}

// sameKeys fails unless the broker got n publishes to channel, all with
// the same key.
func sameKeys(t *testing.T, b *faultyBroker, channel string, n int) {
	t.Helper()
	keys := b.publishKeys(channel)
	if len(keys) != n || keys[0] == "" {
		t.Fatalf("the broker got publishes with keys %q, want %d with a key", keys, n)
	}
	for _, k := range keys[1:] {
		if k != keys[0] {
			t.Fatalf("the broker got publishes with keys %q, want one key", keys)
		}
	}
}

// TestPublishRetriedAfterUnavailable: the broker stores the publication
// and delivers it, but the server answers unavailable. Publish sends it
// again with the same key; the broker recognises the key, so the
// subscriber sees it once and Publish returns its offset.
func TestPublishRetriedAfterUnavailable(t *testing.T) {
	const ch = "chat:unknown"
	p := newPublishSetup(t, ch)
	p.b.answerUnavailable(ch, 1)
	p.publish(t, ch, "once", 1)
	sameKeys(t, p.b, ch, 2)
	p.publish(t, ch, "next", 2)
	pubs := p.got.waitPubs(t, 2)
	checkSequence(t, pubs, 1, 2)
	checkData(t, pubs, `"once"`, `"next"`)
}

// TestPublishRetriedAfterDrop: the broker stores the publication but is
// slow to answer, and the connection drops meanwhile. Publish sends it
// again, with the same key, on the next connection and returns the offset
// the first one got.
func TestPublishRetriedAfterDrop(t *testing.T) {
	const ch = "chat:dropped"
	p := newPublishSetup(t, ch)
	release := p.b.holdPublish(ch)
	type answer struct {
		off uint64
		err error
	}
	done := make(chan answer, 1)
	go func() {
		off, err := p.pub.Publish(ctxFor(t), ch, "once")
		done <- answer{off, err}
	}()
	select {
	case <-p.b.pubWaiting:
	case <-time.After(waitFor):
		t.Fatal("the publish did not reach the broker")
	}
	cut(p.pubConns)
	release()
	a := <-done
	if a.err != nil || a.off != 1 {
		t.Fatalf("Publish = %d, %v; want offset 1 from the publish sent again", a.off, a.err)
	}
	sameKeys(t, p.b, ch, 2)
	p.publish(t, ch, "next", 2)
	pubs := p.got.waitPubs(t, 2)
	checkSequence(t, pubs, 1, 2)
	checkData(t, pubs, `"once"`, `"next"`)
}

// TestPublishWithoutKeyPublishesTwice: two calls with the same data are
// two publications: each call has its own key.
func TestPublishWithoutKeyPublishesTwice(t *testing.T) {
	const ch = "chat:twice"
	p := newPublishSetup(t, ch)
	p.publish(t, ch, "same", 1)
	p.publish(t, ch, "same", 2)
	keys := p.b.publishKeys(ch)
	if len(keys) != 2 || keys[0] == "" || keys[1] == "" || keys[0] == keys[1] {
		t.Fatalf("the broker got publishes with keys %q, want two different keys", keys)
	}
	pubs := p.got.waitPubs(t, 2)
	checkSequence(t, pubs, 1, 2)
	checkData(t, pubs, `"same"`, `"same"`)
}

// TestPublishIdempotencyKey: a key the caller gives is sent as is, so a
// publish the application repeats with it (after a crash, say) is stored
// once; a malformed key fails before anything is sent.
func TestPublishIdempotencyKey(t *testing.T) {
	const ch = "chat:keyed"
	p := newPublishSetup(t, ch)
	p.publish(t, ch, "order", 1, client.IdempotencyKey("order-42"))
	p.publish(t, ch, "order", 1, client.IdempotencyKey("order-42"))
	p.publish(t, ch, "other", 2, client.IdempotencyKey("order-43"))
	for _, key := range []string{"", "with space", "é", strings.Repeat("k", 65)} {
		_, err := p.pub.Publish(ctxFor(t), ch, "bad", client.IdempotencyKey(key))
		if err == nil || !strings.Contains(err.Error(), "idempotency key") {
			t.Errorf("Publish with key %q: %v, want an error about the key", key, err)
		}
	}
	if keys := p.b.publishKeys(ch); len(keys) != 3 {
		t.Fatalf("the broker got %d publishes, want 3", len(keys))
	}
	pubs := p.got.waitPubs(t, 2)
	checkSequence(t, pubs, 1, 2)
	checkData(t, pubs, `"order"`, `"other"`)
}

// TestPublishRetriesBounded: a server that never answers, whose
// connection drops under every attempt. Publish sends the same publish,
// with the same key, three times, then gives up with ErrDisconnected.
func TestPublishRetriesBounded(t *testing.T) {
	url, conns, frames := silentServer(t)
	c, err := client.Dial(ctxFor(t), client.Config{
		URL: url, Token: staticToken("t"),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	errc := make(chan error, 1)
	go func() { _, err := c.Publish(ctxFor(t), "chat:x", 1); errc <- err }()
	var keys []string
	for i := range 3 {
		ws := receive(t, conns, "a connection")
		var cmd struct {
			Action string `json:"action"`
			Key    string `json:"idempotency_key"`
		}
		select {
		case f := <-frames:
			if err := json.Unmarshal([]byte(f), &cmd); err != nil || cmd.Action != "publish" {
				t.Fatalf("server read %s, want a publish", f)
			}
		case err := <-errc:
			t.Fatalf("Publish gave up after %d attempts: %v", i, err)
		case <-time.After(waitFor):
			t.Fatalf("no attempt %d", i+1)
		}
		keys = append(keys, cmd.Key)
		_ = ws.NetConn().Close()
	}
	if err := receive(t, errc, "Publish to give up"); !errors.Is(err, client.ErrDisconnected) {
		t.Fatalf("Publish: %v, want ErrDisconnected after three attempts", err)
	}
	if keys[0] == "" || keys[1] != keys[0] || keys[2] != keys[0] {
		t.Fatalf("the attempts carried keys %q, want one key", keys)
	}
	if len(frames) != 0 {
		t.Fatalf("the server read %s after the third attempt", <-frames)
	}
}

// receive returns the next value of ch, failing the test after waitFor.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("timed out waiting for %s", what)
	}
	panic("unreachable")
}
