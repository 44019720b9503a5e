//go:build !linux

package uring

import "errors"

// ErrUnsupported is returned by New where io_uring cannot be used.
var ErrUnsupported = errors.New("uring: io_uring unavailable")

// Ring is not available on this system.
type Ring struct{}

// New always fails here: io_uring is Linux's.
func New(int) (*Ring, error) { return nil, ErrUnsupported }

// Size is 0.
func (*Ring) Size() int { return 0 }

// Send is never called: New failed.
func (*Ring) Send([]int, [][]byte, []int32) error { return ErrUnsupported }

// Close does nothing.
func (*Ring) Close() {}
