package main

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logWriter buffers the log: each line is one Write (slog's handlers write
// a whole record at once), and the buffer goes out when it fills, every
// flushEvery, and on Close. Two lines per connection written one by one
// cost two system calls per connection, a tenth of a handshake's CPU;
// buffered, a burst of handshakes shares them. A line waits at most
// flushEvery: what a crash of the process itself (not a panic, which the
// server contains) can lose.
type logWriter struct {
	mu   sync.Mutex // guards buf; held across its writes to the output
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

const (
	logBufferBytes = 64 << 10
	flushEvery     = 100 * time.Millisecond
)

func newLogWriter(w io.Writer) *logWriter {
	l := &logWriter{buf: bufio.NewWriterSize(w, logBufferBytes), stop: make(chan struct{}), done: make(chan struct{})}
	go l.flusher()
	return l
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logWriter) flusher() {
	defer close(l.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.Flush()
		}
	}
}

// Flush writes what is buffered.
func (l *logWriter) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.buf.Flush()
}

// Close stops the flusher and writes what is left; later lines are still
// buffered and written by Flush.
func (l *logWriter) Close() {
	close(l.stop)
	<-l.done
	l.Flush()
}
