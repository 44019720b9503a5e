package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// runFanout holds cfg.Conns subscribers on one channel (in this process,
// or in cfg.Procs child processes), publishes cfg.Rate publications a
// second of cfg.Size bytes for cfg.Duration, and measures every delivery.
func runFanout(ctx context.Context, cfg Options) (*fanoutReport, error) {
	r := &fanoutReport{Subscribers: cfg.Conns, Procs: cfg.Procs, Latency: new(histogram)}
	var g *group
	var children []*child
	var err error
	if cfg.Procs == 1 {
		g, err = openGroup(ctx, cfg, r.Latency, func(int) string { return cfg.Channel })
	} else {
		children, err = startChildren(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Log, "fanout: %d subscribers ready; publishing\n", cfg.Conns)
	cpu0, cpuErr := serverCPU(cfg.ServerPID)
	pub, err := publish(ctx, cfg)
	if err != nil {
		if g != nil {
			g.close()
		}
		return nil, err
	}
	r.PublishErrors, r.FirstErr = int(pub.failed.Load()), pub.firstErr()
	r.Unanswered = pub.sent - int(pub.ok.Load()) - r.PublishErrors
	r.Published = int(pub.ok.Load()) + r.Unanswered // an unanswered publish may still have been accepted
	final := pub.maxOffset.Load()
	var results []groupResult
	if g != nil {
		g.waitFinal(ctx, final, cfg.Drain)
		results = append(results, g.result(final))
		g.close()
	} else if results, err = finishChildren(children, final); err != nil {
		return nil, err
	}
	if cpu1, err := serverCPU(cfg.ServerPID); err == nil && cpuErr == nil {
		r.ServerCPU = cpu1 - cpu0
	}
	r.add(results, pub.start)
	return r, nil
}

func serverCPU(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, errors.New("no server pid")
	}
	return procCPU(pid)
}

// publisher is the connection that publishes; it counts the replies.
type publisher struct {
	gws.BuiltinEventHandler
	start     time.Time
	sent      int
	ok        atomic.Int64
	failed    atomic.Int64
	maxOffset atomic.Uint64
	errText   atomic.Value // string: the first error reply
}

func (p *publisher) OnMessage(_ *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	b := msg.Bytes()
	if !bytes.HasPrefix(b, []byte(`{"id":`)) {
		return
	}
	off, ok := scanUint(b, `"offset":`)
	if !ok || !bytes.Contains(b, []byte(`"result"`)) {
		p.failed.Add(1)
		p.errText.CompareAndSwap(nil, string(b))
		return
	}
	p.ok.Add(1)
	for cur := p.maxOffset.Load(); off > cur && !p.maxOffset.CompareAndSwap(cur, off); cur = p.maxOffset.Load() {
	}
}

func (p *publisher) firstErr() string {
	s, _ := p.errText.Load().(string)
	return s
}

// publish sends cfg.Rate*cfg.Duration publications at an even pace, each
// carrying its send time in data.t, then waits for their replies.
func publish(ctx context.Context, cfg Options) (*publisher, error) {
	p := new(publisher)
	pc := cfg
	pc.Conns, pc.First = 1, cfg.First+cfg.Conns
	ws, err := newDialer(pc).dial(pc.First, "bench-publisher", p)
	if err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	defer closeAll([]*gws.Conn{ws})
	total := max(1, int(float64(cfg.Rate)*cfg.Duration.Seconds()))
	head := `{"action":"publish","channel":` + strconv.Quote(cfg.Channel) + `,"data":{"t":`
	pad := `,"p":"` + strings.Repeat("x", cfg.Size-len(`{"t":0000000000000000000,"p":""}`)) + `"}}`
	tick := time.NewTicker(max(time.Second/time.Duration(cfg.Rate), time.Millisecond))
	defer tick.Stop()
	p.start = time.Now()
	for sent := 0; sent < total; {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		due := min(total, int(time.Since(p.start).Seconds()*float64(cfg.Rate))+1)
		for ; sent < due; sent++ {
			frame := fmt.Sprintf(`{"id":%d,%s%019d%s`, sent+2, head[1:], time.Now().UnixNano(), pad)
			if err := ws.WriteMessage(gws.OpcodeText, []byte(frame)); err != nil {
				return nil, fmt.Errorf("publisher: %w", err)
			}
		}
	}
	p.sent = total
	for deadline := time.Now().Add(max(replyTimeout, cfg.Drain)); p.ok.Load()+p.failed.Load() < int64(total) && time.Now().Before(deadline); {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p, nil
}

// child is one subscriber process of --procs.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startChildren starts cfg.Procs copies of this binary with --role
// subscribers, splitting the subscribers, and waits until each is ready.
func startChildren(ctx context.Context, cfg Options) ([]*child, error) {
	exe, err := childExe()
	if err != nil {
		return nil, err
	}
	var children []*child
	first := cfg.First
	for p := range cfg.Procs {
		n := cfg.Conns / cfg.Procs
		if p < cfg.Conns%cfg.Procs {
			n++
		}
		c, err := startChild(ctx, exe, cfg, first, n)
		if err != nil {
			finishChildren(children, 0)
			return nil, err
		}
		children = append(children, c)
		first += n
	}
	return children, nil
}

func startChild(ctx context.Context, exe string, cfg Options, first, n int) (*child, error) {
	co := cfg
	co.First, co.Conns = first, n
	cmd := exec.CommandContext(ctx, exe, ChildArgs(co)...)
	cmd.Env = append(cmd.Environ(), childSecretEnv+"="+string(cfg.Secret))
	cmd.Stderr = cfg.Log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	if line, err := c.out.ReadString('\n'); err != nil || line != "ready\n" {
		_ = stdin.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("subscriber process %d did not get ready", first)
	}
	return c, nil
}

// finishChildren tells each child the final offset and collects results.
func finishChildren(children []*child, final uint64) ([]groupResult, error) {
	for _, c := range children {
		fmt.Fprintln(c.stdin, final)
	}
	var out []groupResult
	var errs []error
	for _, c := range children {
		var r groupResult
		if err := json.NewDecoder(c.out).Decode(&r); err != nil {
			errs = append(errs, fmt.Errorf("subscriber process: %w", err))
		}
		_ = c.stdin.Close()
		if err := c.cmd.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("subscriber process: %w", err))
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}
