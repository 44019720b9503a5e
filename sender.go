package rampart

import (
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/rampart-rt/rampart/internal/uring"
)

// A sender writes many connections' frames with one system call, through
// io_uring: a burst of frames for a connection is gathered as before
// (batchConn), and the sender submits the gathered bytes of up to a ring's
// worth of connections at once, where each of them used to cost one write
// (5 to 7 µs here, most of a delivery's cost). A few long-lived senders
// replace a goroutine per burst.
//
// Sends never block: a socket whose buffer is full takes what fits, and
// the rest goes to the connection's own writer goroutine, which writes it
// with limits.write_timeout as every write did before. A slow or hostile
// reader therefore costs the sender nothing, and keeps meeting the send
// queue limit (4009) and the write timeout. TLS connections, and every
// connection where io_uring is refused, keep the goroutine writer.
type sender struct {
	reg  *registry
	ring *uring.Ring
	wake chan struct{}
	stop <-chan struct{}

	panicked func(any)     // logs and counts a contained panic
	sends    atomic.Uint64 // bursts submitted

	mu     sync.Mutex // guards the fields below
	queue  []*conn
	closed bool // the sender stopped: push hands connections back

	// Scratch for one submission, owned by run.
	batch []*conn
	fds   []int
	bufs  [][]byte
	res   []int32
}

// senderRing is the most connections one submission writes.
const senderRing = 256

// startSenders starts one sender per processor the Go scheduler uses,
// unless Config.IOURing is false or io_uring cannot be set up (then every
// burst keeps a goroutine of its own, and an info line says why).
func (s *Server) startSenders() {
	if s.cfg.IOURing != nil && !*s.cfg.IOURing {
		return
	}
	var ss []*sender
	for range runtime.GOMAXPROCS(0) {
		ring, err := uring.New(senderRing)
		if err != nil {
			for _, sd := range ss {
				sd.ring.Close()
			}
			s.log.Info("writing without io_uring", "event", "io_uring_unavailable", "error", err.Error())
			return
		}
		ss = append(ss, &sender{reg: s.reg, ring: ring, wake: make(chan struct{}, 1), stop: s.stop,
			panicked: func(v any) { s.panicked(v, "sender", "", "") }})
	}
	s.reg.senders = ss
	for _, sd := range ss {
		s.goBackground(sd.run)
	}
}

// push hands c's queued frames to the sender. It returns false once the
// sender has stopped: the caller then starts a writer goroutine.
func (s *sender) push(c *conn) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, c)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// run writes what is pushed until stop is closed and nothing is left.
func (s *sender) run() {
	defer s.ring.Close()
	for {
		select {
		case <-s.wake:
		case <-s.stop:
		}
		// A fan-out pushes its subscribers one by one while this runs on
		// the other processor: letting it run first fills the submission.
		runtime.Gosched()
		for s.take() {
			s.write()
		}
		select {
		case <-s.stop:
			s.mu.Lock()
			if len(s.queue) == 0 {
				s.closed = true
				s.mu.Unlock()
				return
			}
			s.mu.Unlock()
		default:
		}
	}
}

// take moves up to a ring's worth of pushed connections into s.batch.
func (s *sender) take() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(len(s.queue), s.ring.Size())
	s.batch = append(s.batch[:0], s.queue[:n]...)
	rest := copy(s.queue, s.queue[n:])
	clear(s.queue[rest:])
	s.queue = s.queue[:rest]
	return n > 0
}

// write gathers each connection's frames, sends them all in one
// submission and settles each connection by its result. A panic past the
// gathering (none is known; gather contains its own) is logged and fails
// the connections not yet settled, which releases their locks; the sender
// goes on.
func (s *sender) write() {
	s.fds, s.bufs = s.fds[:0], s.bufs[:0]
	ready := s.batch[:0]
	for _, c := range s.batch {
		if buf := c.gather(); buf != nil {
			ready = append(ready, c)
			s.bufs = append(s.bufs, buf)
		} else {
			s.reg.work.Done()
		}
	}
	s.batch = ready
	if len(s.res) < len(ready) {
		s.res = make([]int32, s.ring.Size())
	}
	settled, settling := 0, -1
	defer func() {
		if v := recover(); v != nil {
			s.panicked(v)
			for j := settled; j < len(ready); j++ {
				if j == settling {
					ready[j].failWriter() // its lock is already released
				} else {
					ready[j].settle(-int(syscall.EIO))
				}
				s.reg.work.Done()
			}
		}
		clear(s.batch)
		clear(s.bufs)
	}()
	s.submit(0)
	s.sends.Add(uint64(len(ready)))
	for i, c := range ready {
		settling = i
		c.settle(int(s.res[i]))
		settled, settling = i+1, -1
		s.reg.work.Done()
	}
}

// submit holds each connection's descriptor open (a descriptor closed and
// reused by a new connection must never receive another's frames), then
// sends. A connection already closed gets -EBADF.
func (s *sender) submit(i int) {
	if i == len(s.batch) {
		if err := s.ring.Send(s.fds, s.bufs, s.res); err != nil {
			for j := range s.res[:len(s.batch)] {
				s.res[j] = -int32(syscall.EIO)
			}
		}
		return
	}
	err := s.batch[i].batch().raw.Control(func(fd uintptr) {
		s.fds = append(s.fds, int(fd))
		s.submit(i + 1)
	})
	if err != nil {
		s.fds = append(s.fds, -1) // EBADF
		s.submit(i + 1)
	}
}
