package rampart

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/protocol"
)

// The server API's Disconnect, Subscribe and Unsubscribe act on the
// target's connections on every node: the node that takes the call acts on
// its own connections at once, then publishes a control message on
// controlChannel through the broker, and every other node acts on its own
// when the message arrives. The channel's name holds bytes no client
// channel may hold (protocol.ValidChannel), so no client command, channel
// rule or API call can subscribe to it or publish on it.
const controlChannel = "#rampart control"

// The operations a control message carries.
const (
	opDisconnect  = "disconnect"
	opSubscribe   = "subscribe"
	opUnsubscribe = "unsubscribe"
)

// control is one control message. Node is the node that took the call: it
// acted already, and skips its own message.
type control struct {
	Op        string `json:"op"`
	Node      string `json:"node"`
	User      string `json:"user,omitempty"`
	Client    string `json:"client,omitempty"`
	Channel   string `json:"channel,omitempty"`
	Code      uint16 `json:"code,omitempty"`
	Reason    string `json:"reason,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// Bounds of a control message, checked on receipt: what comes from the
// broker is read as carefully as what comes from a client.
const (
	maxControlBytes  = 4 << 10
	maxControlField  = 512         // node, user, client, request id
	controlQueue     = 256         // messages waiting for the control worker
	controlRetryWait = time.Second // first wait before subscribing again, doubled up to controlRetryMax
	controlRetryMax  = 30 * time.Second
)

var errBadControl = errors.New("not a control message")

// decodeControl reads a control message strictly: one JSON object with the
// known fields only, an operation it knows, exactly one target, and
// fields within their bounds.
func decodeControl(b []byte) (control, error) {
	var m control
	if len(b) > maxControlBytes {
		return m, fmt.Errorf("%w: %d bytes", errBadControl, len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return control{}, fmt.Errorf("%w: %v", errBadControl, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return control{}, fmt.Errorf("%w: data after the object", errBadControl)
	}
	if err := m.check(); err != nil {
		return control{}, err
	}
	return m, nil
}

func (m control) check() error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", errBadControl, why) }
	for _, f := range []string{m.Node, m.User, m.Client, m.RequestID, m.Reason} {
		if len(f) > maxControlField || !utf8.ValidString(f) {
			return bad("a field is too long or not UTF-8")
		}
	}
	switch {
	case m.Node == "":
		return bad("no node")
	case (m.User == "") == (m.Client == ""):
		return bad("not exactly one of user and client")
	}
	switch m.Op {
	case opDisconnect:
		if m.Code < protocol.MinApplicationCloseCode || m.Code > protocol.MaxApplicationCloseCode ||
			len(m.Reason) > protocol.MaxCloseReasonBytes || m.Channel != "" {
			return bad("a disconnect needs a code 4000-4999, a short reason and no channel")
		}
	case opSubscribe, opUnsubscribe:
		if !protocol.ValidChannel(m.Channel) || m.Code != 0 || m.Reason != "" {
			return bad("a subscribe or unsubscribe needs a channel and no code or reason")
		}
	default:
		return bad("unknown operation")
	}
	return nil
}

// newNodeID names this node in its control messages.
func newNodeID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// tellNodes publishes m for the other nodes; an error is the client-facing
// unavailable error (this node has acted already: a retry is harmless).
func (s *Server) tellNodes(ctx context.Context, m control) error {
	m.Node = s.nodeID
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	// Not cut short by the caller's cancellation (an HTTP client that hung
	// up): this node has acted, and the others must hear of it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), brokerTimeout)
	defer cancel()
	if _, err := s.broker.Publish(ctx, controlChannel, data, "", "", broker.PublishOptions{}); err != nil {
		s.brokerFailed("control", err)
		return brokerError(err).public()
	}
	return nil
}

// listenControl subscribes this node to controlChannel, retrying while the
// broker cannot be reached (after 1 s, then twice as long each time, at
// most 30 s), and then runs the control worker until the server stops.
func (s *Server) listenControl() {
	for wait := controlRetryWait; ; wait = min(2*wait, controlRetryMax) {
		ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
		err := s.broker.Subscribe(ctx, controlChannel)
		cancel()
		if err == nil {
			break
		}
		s.brokerFailed("control_subscribe", err)
		select {
		case <-s.stop:
			return
		case <-time.After(wait):
		}
	}
	for {
		select {
		case <-s.stop:
			return
		case m := <-s.controls:
			s.applyControl(m)
		}
	}
}

// heardControl takes a control message from the broker's delivery, which
// must not block: the worker applies it. A message that does not decode,
// or that arrives while the worker is behind by controlQueue, is dropped
// with a warning.
func (s *Server) heardControl(p broker.Publication) {
	m, err := decodeControl(p.Data)
	if err != nil {
		s.log.Warn("control message refused", "event", "control_refused", "error", err.Error())
		return
	}
	if m.Node == s.nodeID {
		return // this node acted when it took the call
	}
	select {
	case s.controls <- m:
	default:
		s.log.Warn("control message dropped: the control worker is behind", "event", "control_dropped",
			"op", m.Op, "origin", m.Node, "request_id", m.RequestID)
	}
}

// applyControl acts on this node's connections as another node's API call
// asked.
func (s *Server) applyControl(m control) {
	defer s.containBackground("control")
	t := Target{User: m.User, Client: m.Client}
	ctx := WithRequestID(context.Background(), m.RequestID)
	switch m.Op {
	case opDisconnect:
		s.disconnectHere(ctx, t, m.Code, m.Reason, m.Node)
	case opSubscribe:
		rule := s.serverRule(m.Channel)
		if rule == nil {
			s.log.Warn("control message for a channel without a rule on this node", "event", "control_refused",
				"op", m.Op, "channel", m.Channel, "origin", m.Node, "request_id", m.RequestID)
			return
		}
		ctx, cancel := context.WithTimeout(ctx, brokerTimeout)
		defer cancel()
		_, _ = s.subscribeHere(ctx, t, rule, m.Channel, m.Node)
	case opUnsubscribe:
		s.unsubscribeHere(ctx, t, m.Channel, m.Node)
	}
}
