package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/rampart-rt/rampart/internal/devtoken"
)

// Run validates o, runs it within o.Timeout, logs its progress to o.Log
// and prints its Report to out as one line of JSON. An idle run that ctx
// ends early still reports and returns nil; any other run returns ctx's
// error.
func Run(ctx context.Context, o Options, out io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	o = o.withDefaults()
	// The child processes of an idle run outlive ctx by the time it takes
	// to ask them what they saw; o.Timeout bounds them all the same.
	hard, cancelHard := context.WithTimeout(context.WithoutCancel(ctx), o.Timeout)
	defer cancelHard()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	rep := newReport(o, time.Now())
	var err error
	switch o.Mode {
	case ModeIdle:
		rep.Idle, err = runIdle(ctx, hard, o)
	case ModeFanout:
		rep.Fanout, err = runFanout(ctx, o)
	case ModeRamp:
		rep.Ramp, err = runRamp(ctx, o)
	case ModeHandshake:
		rep.Handshake, err = runHandshakes(ctx, o)
	}
	if err != nil {
		return fmt.Errorf("bench: %s: %w", o.Mode, err)
	}
	return rep.write(out)
}

// RunChild is one child process of --procs (see ChildArgs): it opens its
// subscribers (or, in handshake mode, nothing), writes "ready" to out, and
// then answers each line read from in with one line of JSON: the
// subscribers' counts once they have the offset the line names, or the
// counts of one run of handshake loops. It returns when in ends.
func RunChild(ctx context.Context, o Options, in io.Reader, out io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	o = o.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	return runChild(ctx, o, in, out)
}

// dialer opens authenticated connections, spreading them over users and
// source addresses; the subscribers' tokens are minted once per user.
type dialer struct {
	cfg    Options
	mu     sync.Mutex
	tokens map[string]string
}

func newDialer(cfg Options) *dialer {
	return &dialer{cfg: cfg, tokens: make(map[string]string)}
}

func (d *dialer) token(user string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.tokens[user]; ok {
		return t, nil
	}
	t, err := d.mint(user)
	d.tokens[user] = t
	return t, err
}

// mint returns a fresh token for user, valid for the whole run.
func (d *dialer) mint(user string) (string, error) {
	return devtoken.Mint(d.cfg.Secret, devtoken.Claims{Sub: user, Roles: []string{"bench"}, TTL: d.cfg.Timeout + 10*time.Minute})
}

// dial connects connection number i as user and starts its reader.
func (d *dialer) dial(i int, user string, h gws.Event) (*gws.Conn, error) {
	tok, err := d.token(user)
	if err != nil {
		return nil, err
	}
	return d.dialToken(i, tok, h)
}

// dialToken connects connection number i with token tok and starts its
// reader.
func (d *dialer) dialToken(i int, tok string, h gws.Event) (*gws.Conn, error) {
	src := d.cfg.Sources[i%len(d.cfg.Sources)]
	ws, resp, err := gws.NewClient(h, &gws.ClientOption{
		Addr:               d.cfg.URL,
		RequestHeader:      http.Header{"Authorization": {"Bearer " + tok}, "Sec-Websocket-Protocol": {"rampart.v1"}},
		HandshakeTimeout:   dialTimeout,
		ReadBufferSize:     4096,
		ReadMaxPayloadSize: 1 << 20,
		CheckUtf8Enabled:   false,
		NewDialer: func() (gws.Dialer, error) {
			return &net.Dialer{Timeout: dialTimeout, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}, nil
		},
	})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("handshake from %s: %s", src, resp.Status)
		}
		return nil, fmt.Errorf("dial from %s: %w", src, err)
	}
	go ws.ReadLoop()
	return ws, nil
}

// openAll opens n subscribers with concurrency handshakes in flight;
// open(i) dials and subscribes connection i. It stops at the first error
// or when ctx ends.
func openAll(ctx context.Context, n, concurrency int, open func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, concurrency)
	for range min(concurrency, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := open(i); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	return ctx.Err()
}

func subscribeFrame(channel string) []byte {
	return []byte(`{"id":1,"action":"subscribe","channel":` + strconv.Quote(channel) + `}`)
}

// closeAll sends close 1000 to every connection and closes its socket.
func closeAll(conns []*gws.Conn) {
	for _, ws := range conns {
		if ws != nil {
			_ = ws.SetDeadline(time.Now().Add(time.Second))
			ws.WriteClose(1000, nil)
		}
	}
}

// serverProbe reads the server's CPU time and memory from /proc, when
// its pid is known; the same for any server.
type serverProbe struct{ pid int }

// cpu returns the server's user plus system CPU time.
func (p serverProbe) cpu() (time.Duration, bool) {
	if p.pid == 0 {
		return 0, false
	}
	d, err := procCPU(p.pid)
	return d, err == nil
}

// since returns the server's CPU time since cpu0 (from cpu), or 0.
func (p serverProbe) since(cpu0 time.Duration, ok0 bool) time.Duration {
	cpu1, ok1 := p.cpu()
	if !ok0 || !ok1 {
		return 0
	}
	return cpu1 - cpu0
}

// rssKiB returns the server's resident memory (VmRSS) in KiB.
func (p serverProbe) rssKiB() (int64, bool) {
	if p.pid == 0 {
		return 0, false
	}
	n, err := procRSS(p.pid)
	return n, err == nil
}

// procCPU returns the user plus system CPU time of process pid, read from
// /proc/PID/stat (clock ticks of 10ms).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state); utime is field 14
	if len(f) < 13 {
		return 0, errors.New("unreadable /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unreadable /proc stat")
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// procRSS returns the resident memory of process pid in KiB, the VmRSS
// line of /proc/PID/status.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
			return strconv.ParseInt(kib, 10, 64)
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}
