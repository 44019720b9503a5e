// Package uring submits many sockets' writes with one system call, through
// Linux's io_uring: a small, raw use of the interface (setup, the two
// mapped rings, io_uring_enter) for one operation, a non-blocking send.
//
// A Ring belongs to one goroutine at a time. Where io_uring is missing or
// refused (an older kernel, seccomp, io_uring_disabled), New returns an
// error and the caller writes as before.
package uring
