//go:build faults

package faulttest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is one run of an external process: its output is kept, and it is
// killed by its pid when the test ends, whatever state it is in (a
// stopped process dies of SIGKILL too).
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and was reaped
	err  error         // Wait's answer, once done is closed

	mu    sync.Mutex // guards out
	out   bytes.Buffer
	lines func(line []byte) // called for each output line, on the reader goroutine
}

// startProc starts bin with args and env added to the test's environment.
func startProc(t testing.TB, name, bin string, args, env []string, lines func([]byte)) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{}), lines: lines}
	p.cmd.Env = append(os.Environ(), env...)
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go p.read(r)
	go func() {
		p.err = p.cmd.Wait()
		_ = w.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() && testing.Verbose() {
			t.Logf("%s output (last 2 KiB):\n%s", name, p.tail(2<<10))
		}
	})
	return p
}

func (p *proc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		p.mu.Lock()
		p.out.Write(line)
		p.out.WriteByte('\n')
		p.mu.Unlock()
		if p.lines != nil {
			p.lines(line)
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *proc) tail(n int) string {
	s := p.output()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig to the process by its pid, if it still runs.
func (p *proc) signal(sig syscall.Signal) error {
	if !p.running() {
		return fmt.Errorf("%s has exited", p.name)
	}
	return p.cmd.Process.Signal(sig)
}

// kill sends SIGKILL and waits until the process is reaped.
func (p *proc) kill() {
	if p.running() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

// wait waits at most within for the process to exit and returns its exit
// code (-1 for a signal).
func (p *proc) wait(within time.Duration) (int, error) {
	select {
	case <-p.done:
	case <-time.After(within):
		return 0, fmt.Errorf("%s still running after %v", p.name, within)
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0, nil
	case errors.As(p.err, &ee):
		return ee.ExitCode(), nil
	}
	return 0, p.err
}
