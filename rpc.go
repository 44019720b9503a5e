package rampart

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/rampart-rt/rampart/protocol"
)

// rpcRequest is what the backend receives.
type rpcRequest struct {
	Method string         `json:"method"`
	Data   jsontext.Value `json:"data"`
	User   string         `json:"user"`
	Roles  []string       `json:"roles"`
	Client string         `json:"client"`
}

// rpc checks the caller may call the method, then calls the backend off the
// reader goroutine (bounded per connection) and replies when it answers.
func (c *conn) rpc(cmd *protocol.Command) (any, *cmdError) {
	r := c.s.st().cfg.RPC
	id := c.identity()
	roles, ok := r.Methods[cmd.Method]
	if r.URL == "" || !ok {
		return nil, &cmdError{code: protocol.CodeNotFound, message: "no such method", violation: true}
	}
	if !slices.Contains(roles, "*") && !slices.ContainsFunc(roles, func(role string) bool { return slices.Contains(id.Roles, role) }) {
		return nil, errForbidden("method not granted to the user's roles")
	}
	if int(c.rpcInflight.Add(1)) > r.MaxConcurrent {
		c.rpcInflight.Add(-1)
		return nil, &cmdError{code: protocol.CodeLimitExceeded, message: "too many rpc calls in flight"}
	}
	data := cmd.Data
	if data == nil {
		data = jsontext.Value("null")
	}
	req := rpcRequest{Method: cmd.Method, Data: data, User: id.User, Roles: id.Roles, Client: c.id}
	if req.Roles == nil {
		req.Roles = []string{}
	}
	call := &protocol.Command{ID: cmd.ID, Action: cmd.Action, Method: cmd.Method} // for the reply and the log
	started := c.reg.goWork(func() {
		defer c.rpcInflight.Add(-1)
		defer c.contain("rpc", c.requestID, c.closeInternal)
		c.finishRPC(call, req)
	})
	if !started {
		c.rpcInflight.Add(-1)
		return nil, errUnavailable
	}
	return nil, nil
}

func (c *conn) finishRPC(call *protocol.Command, req rpcRequest) {
	res, e := c.s.callBackend(req)
	if e != nil {
		c.svc.metrics.Commands.WithLabelValues("rpc_call", string(e.code)).Inc()
		c.fail(call, e)
		return
	}
	b, err := protocol.EncodeResult(call.ID, res)
	if err != nil {
		c.fail(call, errInternal(err))
		return
	}
	c.send(b)
}

// callBackend posts the call and maps every failure to a protocol code:
// the backend's own text never reaches the client.
func (s *Server) callBackend(req rpcRequest) (*protocol.RPCResult, *cmdError) {
	r := s.st().cfg.RPC
	body, err := json.Marshal(req)
	if err != nil {
		return nil, errInternal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(body))
	if err != nil {
		return nil, errInternal(err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("X-Request-Id", s.newRequestID())
	resp, err := r.HTTPClient.Do(hreq)
	if err != nil {
		e := *errUnavailable
		e.cause = fmt.Errorf("rpc backend: %w", err)
		return nil, &e
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, int64(r.MaxResponseBytes)+1))
	switch {
	case err != nil:
		e := *errUnavailable
		e.cause = fmt.Errorf("rpc backend: reading the answer: %w", err)
		return nil, &e
	case len(raw) > r.MaxResponseBytes:
		return nil, errInternal(fmt.Errorf("rpc backend: answer over %d bytes", r.MaxResponseBytes))
	}
	return backendAnswer(resp.StatusCode, raw)
}

// backendAnswer reads {"data": ...} from a 2xx, or {"error": "code"}.
func backendAnswer(status int, raw []byte) (*protocol.RPCResult, *cmdError) {
	var ans struct {
		Data  jsontext.Value `json:"data"`
		Error string         `json:"error"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		if status >= 500 {
			e := *errUnavailable
			e.cause = fmt.Errorf("rpc backend: status %d, answer is not JSON", status)
			return nil, &e
		}
		return nil, errInternal(fmt.Errorf("rpc backend: status %d, answer is not JSON", status))
	}
	if ans.Error != "" || status < 200 || status > 299 {
		code := protocol.Code(ans.Error)
		switch code {
		case protocol.CodeBadRequest, protocol.CodeForbidden, protocol.CodeNotFound, protocol.CodeUnauthorized, protocol.CodeUnavailable:
			return nil, &cmdError{code: code, message: "the backend refused the call"}
		}
		if status >= 500 {
			e := *errUnavailable
			e.cause = fmt.Errorf("rpc backend: status %d", status)
			return nil, &e
		}
		return nil, errInternal(fmt.Errorf("rpc backend: status %d, error %q", status, short(ans.Error)))
	}
	if ans.Data == nil {
		ans.Data = jsontext.Value("null")
	}
	return &protocol.RPCResult{Data: ans.Data}, nil
}

func short(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}
