package hookcall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/rampart-rt/rampart/hooks"
	"github.com/rampart-rt/rampart/internal/metrics"
	"github.com/rampart-rt/rampart/protocol"
	"github.com/rampart-rt/rampart/settings"
)

// Options configure a Client.
type Options struct {
	// Current returns the hooks in force; a reload may change them
	// between two calls. It must not return nil.
	Current func() *settings.Hooks
	Metrics *metrics.Hooks
	Log     *slog.Logger // nil discards
}

// Client calls the hooks. It is safe for concurrent use; Close stops its
// notification workers.
type Client struct {
	opts     Options
	http     *http.Client
	inflight atomic.Int64
	notifier
}

// New returns a Client. Its notification workers start with the first
// notification.
func New(o Options) *Client {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewHooks(nil)
	}
	c := &Client{opts: o, http: &http.Client{Transport: newTransport(), CheckRedirect: refuseRedirect}}
	c.notifier.init(c)
	return c
}

// newTransport is http.DefaultTransport's settings without the proxy
// from the environment: the backend is reached where the URL says.
func newTransport() *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        100,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
	}
}

var errRedirect = errors.New("the backend answered with a redirect, which is never followed")

func refuseRedirect(*http.Request, []*http.Request) error { return errRedirect }

// Outcome is a deciding hook's decision.
type Outcome struct {
	Allow bool
	// Code is what the client is told when Allow is false: the backend's
	// deny code, or unavailable when the call failed.
	Code protocol.Code
	// Failed is set when the call failed; Allow is then on_error's word.
	Failed bool
	Err    error // why the call failed, for the log

	Roles []string        // connect: roles to add
	Info  json.RawMessage // connect: the connection's info
	Data  json.RawMessage // publish: the replacement data; nil keeps the data
}

// Connect calls the connect hook; a hook that is off allows.
func (c *Client) Connect(ctx context.Context, req hooks.ConnectRequest) Outcome {
	h := c.opts.Current()
	var rep hooks.ConnectReply
	o := c.decide(ctx, hooks.HookConnect, h, h.Connect, req.RequestID, req, &rep, func() error { return checkConnect(&rep) })
	if o.Allow && !o.Failed {
		o.Roles, o.Info = rep.Roles, rep.Info
	}
	return o
}

// Subscribe calls the subscribe hook; a hook that is off allows.
func (c *Client) Subscribe(ctx context.Context, req hooks.SubscribeRequest) Outcome {
	h := c.opts.Current()
	var rep hooks.SubscribeReply
	return c.decide(ctx, hooks.HookSubscribe, h, h.Subscribe, req.RequestID, req, &rep, func() error { return checkResult(rep.Result, rep.Code, commandCodes) })
}

// Publish calls the publish hook; a hook that is off allows.
func (c *Client) Publish(ctx context.Context, req hooks.PublishRequest) Outcome {
	h := c.opts.Current()
	var rep hooks.PublishReply
	o := c.decide(ctx, hooks.HookPublish, h, h.Publish, req.RequestID, req, &rep, func() error { return checkPublish(&rep) })
	if o.Allow && !o.Failed {
		o.Data = rep.Data
	}
	return o
}

// decide makes one deciding call: bounded in flight, timed out, decoded
// strictly into rep and checked by check. A failure decides by on_error.
func (c *Client) decide(ctx context.Context, name string, h *settings.Hooks, hook settings.Hook, rid string, req, rep any, check func() error) Outcome {
	if hook.URL == "" {
		return Outcome{Allow: true}
	}
	start := time.Now()
	result, err := c.call(ctx, name, h, hook.URL, rid, req, rep)
	if err == nil {
		if err = check(); err != nil {
			result = "bad_reply"
		}
	}
	c.opts.Metrics.Duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	if err != nil {
		c.opts.Metrics.Calls.WithLabelValues(name, result).Inc()
		allow := hook.OnError == settings.OnErrorAllow
		c.opts.Log.Warn("backend hook failed", "event", "hook_failed", "hook", name, "request_id", rid,
			"result", result, "on_error", hook.OnError, "error", err.Error())
		return Outcome{Allow: allow, Failed: true, Code: protocol.CodeUnavailable, Err: err}
	}
	res, code := replyResult(rep)
	c.opts.Metrics.Calls.WithLabelValues(name, res).Inc()
	if res == hooks.Deny {
		return Outcome{Code: code}
	}
	return Outcome{Allow: true}
}

func replyResult(rep any) (string, protocol.Code) {
	var res, code string
	switch r := rep.(type) {
	case *hooks.ConnectReply:
		res, code = r.Result, r.Code
	case *hooks.SubscribeReply:
		res, code = r.Result, r.Code
	case *hooks.PublishReply:
		res, code = r.Result, r.Code
	}
	if code == "" {
		code = string(protocol.CodeForbidden)
	}
	return res, protocol.Code(code)
}

// call posts req, signed, and decodes a 2xx reply into rep. Its result
// is the metric's label for a failure.
func (c *Client) call(ctx context.Context, name string, h *settings.Hooks, url, rid string, req, rep any) (string, error) {
	if n := c.inflight.Add(1); n > int64(h.MaxConcurrent) {
		c.inflight.Add(-1)
		return "busy", fmt.Errorf("%d calls already in flight (hooks.max_concurrent)", n-1)
	}
	defer c.inflight.Add(-1)
	body, err := jsonv2.Marshal(req)
	if err != nil {
		return "error", fmt.Errorf("encoding the request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	raw, result, err := c.post(ctx, name, h, url, rid, body)
	if err != nil {
		return result, err
	}
	if err := decodeReply(raw, rep); err != nil {
		return "bad_reply", err
	}
	return "", nil
}

// post sends one signed request and returns the 2xx answer's body, read
// up to hooks.max_response_bytes.
func (c *Client) post(ctx context.Context, name string, h *settings.Hooks, url, rid string, body []byte) ([]byte, string, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, "error", err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set(hooks.HookHeader, name)
	hreq.Header.Set(hooks.SignatureHeader, hooks.SignKeys([][]byte{h.Key, h.PreviousKey}, body, time.Now()))
	if rid != "" {
		hreq.Header.Set("X-Request-Id", rid)
	}
	resp, err := c.client(h).Do(hreq)
	switch {
	case errors.Is(err, errRedirect):
		return nil, "redirect", errRedirect
	case err != nil && ctx.Err() != nil:
		return nil, "timeout", fmt.Errorf("no answer within hooks.timeout (%s)", h.Timeout)
	case err != nil:
		return nil, "error", err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096)) // reuse the connection
		return nil, "status", fmt.Errorf("status %d", resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, int64(h.MaxResponseBytes)+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, "timeout", fmt.Errorf("the answer did not arrive within hooks.timeout (%s)", h.Timeout)
	case err != nil:
		return nil, "error", fmt.Errorf("reading the answer: %w", err)
	case len(raw) > h.MaxResponseBytes:
		return nil, "bad_reply", fmt.Errorf("answer over hooks.max_response_bytes (%d)", h.MaxResponseBytes)
	}
	return raw, "", nil
}

// client is the settings' HTTP client, made to refuse redirects, or the
// Client's own.
func (c *Client) client(h *settings.Hooks) *http.Client {
	if h.HTTPClient == nil {
		return c.http
	}
	hc := *h.HTTPClient
	hc.CheckRedirect = refuseRedirect
	return &hc
}

// InFlight is the number of deciding calls in flight.
func (c *Client) InFlight() int { return int(c.inflight.Load()) }

// Close stops taking notifications, delivers those queued until ctx is
// done (dropping the rest, counted), and waits for the workers. Safe to
// call more than once.
func (c *Client) Close(ctx context.Context) {
	c.notifier.close(ctx)
	c.http.CloseIdleConnections()
}
