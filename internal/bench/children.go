package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
)

// child is one process of --procs: this binary, run with ChildArgs. It
// answers each line written to its stdin with one line of JSON.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// children are the processes of one run.
type children []*child

// childExe is the program the --procs children run: this binary.
var childExe = os.Executable

// startChildren starts cfg.Procs children at once, each with its share of
// the connections, loops and handshakes, and waits until every one says
// it is ready. They end with ctx, or when stop closes their stdin.
func startChildren(ctx context.Context, cfg Options) (children, error) {
	exe, err := childExe()
	if err != nil {
		return nil, err
	}
	var cs children
	for p := range cfg.Procs {
		c, err := startChild(ctx, exe, cfg.share(p))
		if err != nil {
			cs.kill()
			return nil, err
		}
		cs = append(cs, c)
	}
	for p, c := range cs {
		if line, err := c.out.ReadString('\n'); err != nil || line != "ready\n" {
			cs.kill()
			return nil, fmt.Errorf("child process %d of %d did not get ready (its errors are above)", p+1, len(cs))
		}
	}
	return cs, nil
}

// share is the options of child p of cfg.Procs: its part of the
// connections, loops and handshakes, numbered on from the previous
// children's.
func (o Options) share(p int) Options {
	part := func(total int) (first, n int) {
		n = total / o.Procs
		first = p*n + min(p, total%o.Procs)
		if p < total%o.Procs {
			n++
		}
		return first, n
	}
	co := o
	co.Procs = 1
	first, n := part(o.Conns)
	co.First, co.Conns = o.First+first, max(1, n)
	_, co.Loops = part(o.Loops)
	if o.Mode == ModeHandshake {
		first, co.Handshakes = part(o.Handshakes)
		co.First = o.First + first
	}
	return co
}

func startChild(ctx context.Context, exe string, co Options) (*child, error) {
	cmd := exec.CommandContext(ctx, exe, ChildArgs(co)...)
	cmd.Env = append(cmd.Environ(), childSecretEnv+"="+string(co.Secret))
	cmd.Stderr = co.Log
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
	return &child{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}, nil
}

// round writes line to every child, then reads one JSON line from each
// into into(i).
func (cs children) round(line string, into func(i int) any) error {
	var errs []error
	for _, c := range cs {
		if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
			errs = append(errs, fmt.Errorf("child process: %w", err))
		}
	}
	for i, c := range cs {
		b, err := c.out.ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(b, into(i))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("child process %d: %w", i+1, err))
		}
	}
	return errors.Join(errs...)
}

// stop closes the children's stdin, which ends them, and waits for them.
func (cs children) stop() error {
	var errs []error
	for _, c := range cs {
		_ = c.stdin.Close()
	}
	for _, c := range cs {
		if err := c.cmd.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("child process: %w", err))
		}
	}
	return errors.Join(errs...)
}

// kill ends the children at once and waits for them.
func (cs children) kill() {
	for _, c := range cs {
		_ = c.cmd.Process.Kill()
	}
	for _, c := range cs {
		_ = c.cmd.Wait()
	}
}

// runChild is one child process: it prepares (opens its subscribers, or
// nothing for handshake loops), says "ready", and answers each line of
// stdin with one line of JSON until stdin ends.
func runChild(ctx context.Context, cfg Options, stdin io.Reader, stdout io.Writer) error {
	answer := func(string) any { return runLoops(ctx, cfg) }
	if cfg.Mode != ModeHandshake {
		g, err := openGroup(ctx, cfg)
		if err != nil {
			return err
		}
		defer g.close()
		answer = func(line string) any {
			final, _ := strconv.ParseUint(line, 10, 64)
			g.waitFinal(ctx, final, cfg.Drain)
			return g.delta(final)
		}
	}
	if _, err := fmt.Fprintln(stdout, "ready"); err != nil {
		return err
	}
	// The reader ends when stdin does: the parent closes it, or exits.
	lines, done := make(chan string), make(chan struct{})
	defer close(done)
	go func() {
		defer close(lines)
		for sc := bufio.NewScanner(stdin); sc.Scan(); {
			select {
			case lines <- sc.Text():
			case <-done:
				return
			}
		}
	}()
	enc := json.NewEncoder(stdout)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			if err := enc.Encode(answer(line)); err != nil {
				return err
			}
		}
	}
}
