package rampart

import (
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/internal/httpapi"
	"github.com/rampart-rt/rampart/protocol"
)

// Panic policy. Rampart's code aims to be panic-free; containment is the
// second line. A panic in a goroutine that serves one connection (its
// reader, a command, its writer, an rpc call, its clocks) closes that
// connection with 1011; one in an HTTP handler answers 500; one in the
// delivery of a publication skips the rest of that delivery. Each is logged
// once at error level with its stack and request id (event "panic") and
// counted in rampart_panics_total{where}; the process and every other
// connection go on.

// errPanic is the error a connection closed by a contained panic reports.
var errPanic = errors.New("rampart: contained panic")

// panicked logs and counts a recovered panic.
func (s *Server) panicked(p any, where, requestID, client string) {
	s.metrics.Panics.WithLabelValues(where).Inc()
	v := fmt.Sprint(p)
	if len(v) > 200 {
		v = v[:200]
	}
	s.log.Error("panic contained", "event", "panic", "where", where, "request_id", requestID,
		"client", client, "panic", v, "stack", string(debug.Stack()))
}

// contain is deferred by every goroutine that serves one connection: on a
// panic it logs and counts it, then runs then (which closes or drops c).
func (c *conn) contain(where, requestID string, then func()) {
	if p := recover(); p != nil {
		c.s.panicked(p, where, requestID, c.id)
		then()
	}
}

// deliver hands a publication to the hub; a panic skips the rest of that
// delivery, and the broker's goroutine goes on.
func (s *Server) deliver(p broker.Publication) {
	defer func() {
		if r := recover(); r != nil {
			s.panicked(r, "delivery", "", "")
		}
	}()
	if p.Channel == controlChannel {
		s.heardControl(p)
		return
	}
	s.hub.Deliver(p)
}

// closeInternal closes c after a contained panic, once what is queued
// (the error reply of the command that panicked) is sent.
func (c *conn) closeInternal() {
	c.closeAfterQueued(protocol.CloseInternalError, protocol.CloseCodes[protocol.CloseInternalError])
}

// containHTTP is deferred by the HTTP handlers: a panic answers 500 with the
// request id (when nothing was written yet; a hijacked connection is closed
// by net/http).
func (s *Server) containHTTP(w http.ResponseWriter, r *http.Request) {
	p := recover()
	if p == nil {
		return
	}
	if p == http.ErrAbortHandler {
		panic(p) // net/http's own way to abort a response, not a fault
	}
	id := w.Header().Get("X-Request-Id")
	if id == "" {
		id = s.newRequestID()
		w.Header().Set("X-Request-Id", id)
	}
	s.panicked(p, routeLabel(r), id, "")
	httpapi.WriteJSON(w, http.StatusInternalServerError, protocol.APIError{Error: protocol.CodeInternal, RequestID: id})
}

// routeLabel keeps the panics metric's label set small.
func routeLabel(r *http.Request) string {
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/api/"):
		return "api"
	case strings.HasPrefix(p, "/admin/"):
		return "admin"
	default:
		return "http"
	}
}
