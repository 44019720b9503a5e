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

// Run validates o and runs it within o.Timeout: idle prints its two lines
// to out; fanout logs its progress to o.Log and prints its report to out.
// An idle run that ctx ends early still reports and returns nil.
func Run(ctx context.Context, o Options, out io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	o = o.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if o.Mode == "idle" {
		return runIdle(ctx, o, out)
	}
	r, err := runFanout(ctx, o)
	if err != nil {
		return err
	}
	r.print(out)
	return nil
}

// RunSubscribers is one subscriber process of --procs (see ChildArgs): it
// opens its subscribers, writes "ready" to out, reads the final offset
// from in, waits for the deliveries and writes its result to out as JSON.
func RunSubscribers(ctx context.Context, o Options, in io.Reader, out io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	o = o.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	return runSubscriberChild(ctx, o, in, out)
}

// dialer opens authenticated connections, spreading them over users and
// source addresses; tokens are minted once per user.
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
	t, err := devtoken.Mint(d.cfg.Secret, devtoken.Claims{Sub: user, Roles: []string{"bench"}, TTL: d.cfg.Timeout + 10*time.Minute})
	d.tokens[user] = t
	return t, err
}

// dial connects connection number i as user and starts its reader.
func (d *dialer) dial(i int, user string, h gws.Event) (*gws.Conn, error) {
	tok, err := d.token(user)
	if err != nil {
		return nil, err
	}
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
