package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/rampart-rt/rampart/protocol"
)

func (h *Handler) publish(w http.ResponseWriter, r *http.Request) {
	var body protocol.APIPublish
	if !h.decode(w, r, &body) {
		return
	}
	key, ok := h.idempotencyKey(w, r, body.IdempotencyKey)
	if !ok {
		return
	}
	pos, err := h.o.Server.Publish(h.ctx(w, r), body.Channel, body.Data, protocol.PublishOptions{IdempotencyKey: key})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, protocol.APIPublishResult{Offset: pos.Offset, Epoch: pos.Epoch})
}

func (h *Handler) broadcast(w http.ResponseWriter, r *http.Request) {
	var body protocol.APIBroadcast
	if !h.decode(w, r, &body) {
		return
	}
	key, ok := h.idempotencyKey(w, r, body.IdempotencyKey)
	if !ok {
		return
	}
	results, err := h.o.Server.Broadcast(h.ctx(w, r), body.Channels, body.Data, protocol.PublishOptions{IdempotencyKey: key})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, protocol.APIBroadcastResult{Results: results})
}

// idempotencyKey reads a publish's key from the body or the
// Idempotency-Key header (one of them, or both the same); a malformed key
// answers 400.
func (h *Handler) idempotencyKey(w http.ResponseWriter, r *http.Request, inBody string) (string, bool) {
	key := inBody
	if v := r.Header.Get("Idempotency-Key"); v != "" {
		if key != "" && key != v {
			h.Error(w, r, http.StatusBadRequest, protocol.CodeBadRequest, "idempotency_key and the Idempotency-Key header differ")
			return "", false
		}
		key = v
	}
	if !protocol.ValidIdempotencyKey(key) {
		h.Error(w, r, http.StatusBadRequest, protocol.CodeBadRequest, "idempotency_key: 1 to 64 characters of A-Z a-z 0-9 _ . : @ -")
		return "", false
	}
	return key, true
}

func (h *Handler) disconnect(w http.ResponseWriter, r *http.Request) {
	var body protocol.APIDisconnect
	if !h.decode(w, r, &body) {
		return
	}
	if body.Code == 0 {
		body.Code = protocol.MinApplicationCloseCode
	}
	if body.Code < protocol.MinApplicationCloseCode || body.Code > protocol.MaxApplicationCloseCode {
		h.Error(w, r, http.StatusBadRequest, protocol.CodeBadRequest, "code 4000-4999")
		return
	}
	n, err := h.o.Server.Disconnect(h.ctx(w, r), protocol.Target{User: body.User, Client: body.Client}, uint16(body.Code), body.Reason)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, protocol.APIDisconnectResult{Disconnected: n})
}

// subscription serves /api/subscribe and /api/unsubscribe with call, the
// Go API's Subscribe or Unsubscribe.
func (h *Handler) subscription(call func(context.Context, protocol.Target, string) (int, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body protocol.APISubscribe
		if !h.decode(w, r, &body) {
			return
		}
		n, err := call(h.ctx(w, r), protocol.Target{User: body.User, Client: body.Client}, body.Channel)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		WriteJSON(w, http.StatusOK, protocol.APISubscribeResult{Connections: n})
	}
}

func (h *Handler) presence(w http.ResponseWriter, r *http.Request) {
	clients, err := h.o.Server.Presence(h.ctx(w, r), r.URL.Query().Get("channel"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, protocol.PresenceResult{Clients: clients})
}

func (h *Handler) history(w http.ResponseWriter, r *http.Request) {
	limit := -1 // the server's cap
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			h.Error(w, r, http.StatusBadRequest, protocol.CodeBadRequest, "limit must be a non-negative integer")
			return
		}
		limit = n
	}
	res, err := h.o.Server.History(h.ctx(w, r), r.URL.Query().Get("channel"), limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, res)
}
