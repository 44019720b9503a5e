//go:build linux

package uring

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's ABI (include/uapi/linux/io_uring.h).
const (
	opSend      = 26 // IORING_OP_SEND
	enterGetEvs = 1  // IORING_ENTER_GETEVENTS
	featSingle  = 1  // IORING_FEAT_SINGLE_MMAP
	offSQRing   = 0
	offCQRing   = 0x8000000
	offSQEs     = 0x10000000
	sqeSize     = 64
	cqeSize     = 16
)

type sqRingOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqRingOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqRingOffsets
	cqOff                                                                  cqRingOffsets
}

type sqe struct {
	opcode, flags uint8
	ioprio        uint16
	fd            int32
	off, addr     uint64
	len, msgFlags uint32
	userData      uint64
	_             [3]uint64
}

type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// Ring is one io_uring instance with room for Size sends per submission.
type Ring struct {
	fd      int
	rings   [][]byte // the mappings, for Close
	sqes    []sqe
	sqTail  *uint32
	sqHead  *uint32
	sqMask  uint32
	sqArray []uint32
	cqHead  *uint32
	cqTail  *uint32
	cqMask  uint32
	cqes    unsafe.Pointer
	size    int
}

// ErrUnsupported is returned by New where io_uring cannot be used.
var ErrUnsupported = errors.New("uring: io_uring unavailable")

// New sets up a ring for up to entries sends per Send call (rounded up
// to a power of two by the kernel).
func New(entries int) (*Ring, error) {
	var p params
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("%w: io_uring_setup: %v", ErrUnsupported, errno)
	}
	r := &Ring{fd: int(fd), size: int(p.sqEntries)}
	if err := r.mapRings(&p); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Ring) mapRings(p *params) error {
	if p.features&featSingle == 0 {
		return fmt.Errorf("%w: kernel lacks IORING_FEAT_SINGLE_MMAP", ErrUnsupported)
	}
	sqLen := int(p.sqOff.array + p.sqEntries*4)
	if cqLen := int(p.cqOff.cqes + p.cqEntries*cqeSize); cqLen > sqLen {
		sqLen = cqLen
	}
	ring, err := unix.Mmap(r.fd, offSQRing, sqLen, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("%w: mmap: %v", ErrUnsupported, err)
	}
	r.rings = append(r.rings, ring)
	sqes, err := unix.Mmap(r.fd, offSQEs, int(p.sqEntries)*sqeSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("%w: mmap: %v", ErrUnsupported, err)
	}
	r.rings = append(r.rings, sqes)
	base := unsafe.Pointer(&ring[0])
	at := func(off uint32) *uint32 { return (*uint32)(unsafe.Add(base, off)) }
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&sqes[0])), p.sqEntries)
	r.sqHead, r.sqTail, r.sqMask = at(p.sqOff.head), at(p.sqOff.tail), *at(p.sqOff.ringMask)
	r.sqArray = unsafe.Slice(at(p.sqOff.array), p.sqEntries)
	r.cqHead, r.cqTail, r.cqMask = at(p.cqOff.head), at(p.cqOff.tail), *at(p.cqOff.ringMask)
	r.cqes = unsafe.Add(base, p.cqOff.cqes)
	return nil
}

// Size is the most sends one Send call takes.
func (r *Ring) Size() int { return r.size }

// Send submits one non-blocking send per entry of bufs, to the matching
// entry of fds, and waits until the kernel has answered each; res[i] is
// then the bytes sent, or a negative errno (-EAGAIN when the socket's
// buffer is full). The caller keeps every fd open until Send returns. A
// non-nil error means nothing is known about the sends.
func (r *Ring) Send(fds []int, bufs [][]byte, res []int32) error {
	n := len(fds)
	if n == 0 {
		return nil
	}
	if n > r.size || len(bufs) != n || len(res) < n {
		return fmt.Errorf("uring: %d sends, ring holds %d", n, r.size)
	}
	tail := atomic.LoadUint32(r.sqTail)
	for i := range n {
		idx := (tail + uint32(i)) & r.sqMask
		var addr uint64
		if len(bufs[i]) > 0 {
			addr = uint64(uintptr(unsafe.Pointer(&bufs[i][0])))
		}
		r.sqes[idx] = sqe{opcode: opSend, fd: int32(fds[i]), addr: addr, len: uint32(len(bufs[i])),
			msgFlags: unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL, userData: uint64(i)}
		r.sqArray[idx] = idx
	}
	atomic.StoreUint32(r.sqTail, tail+uint32(n))
	for left := n; left > 0; {
		done, err := r.enter(left)
		if err != nil {
			return err
		}
		left -= done
	}
	head := atomic.LoadUint32(r.cqHead)
	for got := 0; got < n; {
		ctail := atomic.LoadUint32(r.cqTail)
		if head == ctail {
			if _, err := r.enter(0); err != nil {
				return err
			}
			continue
		}
		for ; head != ctail; head++ {
			c := (*cqe)(unsafe.Add(r.cqes, uintptr(head&r.cqMask)*cqeSize))
			if c.userData < uint64(n) {
				res[c.userData] = c.res
			}
			got++
		}
		atomic.StoreUint32(r.cqHead, head)
	}
	runtime.KeepAlive(bufs) // the kernel read them until the last completion
	return nil
}

// enter submits up to toSubmit entries and waits for at least one
// completion; it returns how many entries the kernel took. A wait that a
// signal interrupts is tried again (the kernel reports EINTR only when it
// took no entry).
func (r *Ring) enter(toSubmit int) (int, error) {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), 1, enterGetEvs, 0, 0)
		switch errno {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		default:
			return 0, fmt.Errorf("uring: io_uring_enter: %v", errno)
		}
	}
}

// Close unmaps the rings and closes the ring's descriptor.
func (r *Ring) Close() {
	for _, m := range r.rings {
		_ = unix.Munmap(m)
	}
	r.rings = nil
	if r.fd >= 0 {
		_ = unix.Close(r.fd)
		r.fd = -1
	}
}
