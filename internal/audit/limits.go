package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rampart-rt/rampart/internal/wstest"
)

// The limit checks: how large a message, how many connections and
// handshakes, how slow a handshake and how idle a connection the server
// tolerates, each probe bounded by the budgets.

// filler is a text message of size bytes the profile's server reads as
// harmless: a JSON object by default.
func (a *auditor) filler(size int) []byte {
	switch a.profile {
	case "socketio":
		// An Engine.IO pong packet: read, and ignored.
		return append([]byte("3"), bytes.Repeat([]byte("a"), size-1)...)
	case "rampart":
		p := []byte(`{"id":1,"action":"ping","pad":"`)
		p = append(p, bytes.Repeat([]byte("a"), max(size-len(p)-2, 1))...)
		return append(p, '"', '}')
	}
	p := []byte(`{"rampart_audit":"`)
	p = append(p, bytes.Repeat([]byte("a"), max(size-len(p)-2, 1))...)
	return append(p, '"', '}')
}

// fillerHint says what may help when the server refused the filler.
func (a *auditor) fillerHint() string {
	if a.profile == "" {
		return "; a --profile sends what the server reads"
	}
	return ""
}

// probeSizes are the sizes the size probe sends: 1 KiB doubling, then the
// cap itself.
func probeSizes(limit int) []int {
	var out []int
	for n := 1024; n < limit; n *= 2 {
		out = append(out, n)
	}
	return append(out, limit)
}

func (a *auditor) checkMessageSize(ctx context.Context) verdict {
	c, v := a.session(ctx)
	if v != nil {
		return *v
	}
	defer c.close()
	c.ws.SetReadLimit(a.sizeCap + 4096) // an echo of the largest probe
	prev := 0
	for _, size := range probeSizes(a.sizeCap) {
		if time.Now().After(a.deadline) {
			return skipf("the --duration budget ran out after %d bytes were accepted", prev)
		}
		werr := c.write(wstest.OpText, a.filler(size))
		if werr == nil {
			werr = c.write(wstest.OpPing, []byte(pingPayload))
		}
		c.wait(a.timeout)
		s := c.watch(true, func(s seen) bool { return s.pong })
		switch {
		case s.pong:
			prev = size
			continue
		case !s.gone() && werr == nil:
			return skipf("no pong within %s after a %d-byte message", a.timeout, size)
		case s.closed && !sizeClose(s.code):
			return skipf("a %d-byte message ended the connection with %s, a code for its content, not its size%s", size, endText(s), a.fillerHint())
		case prev == 0 && !s.closed:
			return skipf("the first message (%d bytes) ended the connection (%s): its content was refused, not its size%s", size, endText(s), a.fillerHint())
		}
		a.foundLimit.Store(int64(prev))
		return passf("a %d-byte message was accepted, a %d-byte one refused (%s)", prev, size, endText(s))
	}
	return failf("every message up to --size-cap (%d bytes) was accepted", a.sizeCap)
}

// sizeClose says whether a close code may say "too big": 1009, or 1008
// (policy), which some servers use for it.
func sizeClose(code uint16) bool { return code == 1009 || code == 1008 }

func (a *auditor) checkCompressionBomb(ctx context.Context) verdict {
	h := a.request()
	h.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
	ans, err := a.handshake(ctx, h, a.path)
	if err != nil {
		return skipf("cannot connect: %v", err)
	}
	if ans.conn == nil {
		return skipf("the upgrade offering compression answered %d", ans.status)
	}
	c := ans.conn
	defer c.close()
	ext := ans.header.Get("Sec-WebSocket-Extensions")
	if !strings.Contains(strings.ToLower(ext), "permessage-deflate") {
		return naf("permessage-deflate offered, not negotiated: no decompression to abuse")
	}
	inflated := 4 * a.sizeCap
	c.ws.SetReadLimit(inflated + 4096)
	if err := c.ws.WriteCompressedText(string(a.filler(inflated))); err != nil {
		return passf("compression negotiated; the bomb's write failed (%v): the server closed", err)
	}
	_ = c.write(wstest.OpPing, []byte(pingPayload))
	c.wait(a.timeout)
	s := c.watch(true, func(s seen) bool { return s.pong })
	if s.pong {
		return failf("compression negotiated (%s); a compressed frame inflating to %d bytes (4 x --size-cap) was accepted", oneLine(ext, 60), inflated)
	}
	if !s.gone() {
		return failf("compression negotiated; no answer within %s to a frame inflating to %d bytes: the server is still inflating or hangs", a.timeout, inflated)
	}
	return passf("compression negotiated; a frame inflating to %d bytes: %s", inflated, endText(s))
}

func (a *auditor) checkConnsPerAddress(ctx context.Context) verdict {
	var held []*conn
	defer func() { closeAll(held) }()
	for len(held) < a.maxConns {
		if time.Now().After(a.deadline) {
			return skipf("the --duration budget ran out with %d connections open", len(held))
		}
		ans, err := a.handshake(ctx, a.request(), a.path)
		switch {
		case errors.Is(err, errBudget):
			return failf("%d connections open at once from this address (the --max-connections budget, with the audit's own), none refused", a.maxConns)
		case isDialError(err):
			return skipf("with %d connections open, the next could not connect: %v", len(held), err)
		case err != nil:
			return passf("with %d connections open, the next got no answer (%v)", len(held), err)
		case ans.conn == nil:
			return passf("with %d connections open, the next was refused with %d", len(held), ans.status)
		}
		held = append(held, ans.conn)
	}
	return failf("%d connections open at once from this address, none refused", len(held))
}

// closeAll closes the connections at once, each politely.
func closeAll(cs []*conn) {
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(c.close)
	}
	wg.Wait()
}

func (a *auditor) checkHandshakeRate(ctx context.Context) verdict {
	start := time.Now()
	for i := range a.maxConns {
		if time.Now().After(a.deadline) {
			return skipf("the --duration budget ran out after %d handshakes", i)
		}
		ans, err := a.handshake(ctx, a.request(), a.path)
		switch {
		case isDialError(err) || errors.Is(err, errBudget):
			return skipf("after %d handshakes, the next could not connect: %v", i, err)
		case err != nil:
			return passf("after %d handshakes in %s, the next got no answer (%v)", i, time.Since(start).Round(time.Millisecond), err)
		case ans.conn == nil:
			return passf("after %d handshakes in %s, the next was refused with %d%s", i, time.Since(start).Round(time.Millisecond), ans.status, retryAfter(ans.header))
		}
		ans.conn.close()
	}
	return failf("%d handshakes in %s from this address (--max-connections), none refused", a.maxConns, time.Since(start).Round(time.Millisecond))
}

func retryAfter(h http.Header) string {
	if v := h.Get("Retry-After"); v != "" {
		return " (Retry-After: " + oneLine(v, 20) + ")"
	}
	return ""
}

// checkSlowHandshake sends an upgrade request a header line every 500 ms
// and waits for the server to give up on it.
func (a *auditor) checkSlowHandshake(ctx context.Context) verdict {
	wait := min(a.headerWait, time.Until(a.deadline))
	nc, err := a.dial(ctx)
	if err != nil {
		return skipf("cannot connect: %v", err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(wait + a.timeout))
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, nc) // bounded by the guard
		done <- err
	}()
	start := time.Now()
	if _, err := fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: %s\r\n", a.path, a.hostHdr); err != nil {
		return passf("the server closed at once (%v)", err)
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	end := time.NewTimer(wait)
	defer end.Stop()
	for i := 0; ; i++ {
		select {
		case <-done:
			return passf("the server gave up on the handshake after %s", time.Since(start).Round(100*time.Millisecond))
		case <-tick.C:
			if _, err := fmt.Fprintf(nc, "X-Rampart-Audit-%d: x\r\n", i); err != nil {
				return passf("the server closed after %s (%v)", time.Since(start).Round(100*time.Millisecond), err)
			}
		case <-end.C:
			return failf("still reading headers after %s, a line every 500 ms (--header-wait)", wait.Round(100*time.Millisecond))
		case <-ctx.Done():
			return skipf("interrupted")
		}
	}
}

// checkIdle holds a connection that reads and never answers pings.
func (a *auditor) checkIdle(ctx context.Context) verdict {
	ans, err := a.handshake(ctx, a.request(), a.path)
	if err != nil {
		return skipf("cannot connect: %v", err)
	}
	if ans.conn == nil {
		return skipf("the baseline upgrade answered %d", ans.status)
	}
	c := ans.conn
	defer c.close()
	wait := min(a.idleWait, time.Until(a.deadline))
	start := time.Now()
	c.wait(wait)
	s := c.watch(false, nil)
	if s.gone() && !a.alive(ctx) {
		return skipf("the idle connection ended, and the server no longer accepts connections")
	}
	if s.gone() {
		how := "without pinging"
		if s.pinged {
			how = "after unanswered pings"
		}
		return passf("an idle connection was closed after %s, %s (%s)", time.Since(start).Round(100*time.Millisecond), how, endText(s))
	}
	if s.pinged {
		return failf("an idle connection that never answered pings was still open after %s (--idle-wait)", wait.Round(100*time.Millisecond))
	}
	return failf("an idle connection was still open after %s (--idle-wait), never pinged", wait.Round(100*time.Millisecond))
}

// alive says whether the server still accepts a TCP connection.
func (a *auditor) alive(ctx context.Context) bool {
	g, err := a.dialTCP(ctx)
	if err != nil {
		return errors.Is(err, errBudget)
	}
	_ = g.Close()
	return true
}

// checkAvailability makes the baseline upgrade once more, after every
// other check: a server that no longer answers fell to one of them.
func (a *auditor) checkAvailability(ctx context.Context) verdict {
	ans, err := a.handshake(ctx, a.request(), a.path)
	if err != nil {
		return failf("after the audit the server no longer answers an upgrade: %v", err)
	}
	if ans.conn != nil {
		ans.conn.close()
	}
	return passf("after the audit the server still answers an upgrade (%d)", ans.status)
}
