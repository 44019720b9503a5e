package rampart

import (
	"net/http"
	"runtime"
	"strconv"
	"strings"

	"github.com/lxzan/gws"

	"github.com/rampart-rt/rampart/internal/deflate"
)

// permessage-deflate (RFC 7692), when compression.enabled allows it:
// negotiated without context takeover in either direction, so that every
// message is compressed on its own. What one message reveals about
// another through its compressed size is then nothing, the server keeps
// no compression window per connection, and a publication is compressed
// once for all its subscribers (deflate.Message).

// deflateOption is gws's permessage-deflate setting for c.
func deflateOption(c Compression) gws.PermessageDeflate {
	return gws.PermessageDeflate{
		Enabled:             c.Enabled,
		Level:               deflate.Level,
		Threshold:           c.ThresholdBytes,
		PoolSize:            deflaterPool(),
		ServerMaxWindowBits: 15,
		ClientMaxWindowBits: 15,
		// Context takeover stays off in both directions (the zero values).
	}
}

// deflaterPool is how many (de)compressors an upgrader shares among its
// connections: one per core, 2 to 8. Each holds about 560 KiB (measured:
// BenchmarkIdleConnMemory), and each is locked while it inflates or
// compresses one message, so fewer than the cores would make connections
// wait for one another.
func deflaterPool() int { return min(max(runtime.GOMAXPROCS(0), 2), 8) }

// selectExtensions leaves in r the one extension offer gws is to accept,
// in the form gws reads, or none. Compression is accepted when allowed and
// the client offers permessage-deflate with parameters the server can
// honour; any other extension is ignored (declined).
func selectExtensions(r *http.Request, allowed bool) {
	offers := r.Header.Values(hdrWSExtensions)
	r.Header.Del(hdrWSExtensions)
	if allowed && acceptsDeflate(strings.Join(offers, ",")) {
		// gws answers with server_no_context_takeover and
		// client_no_context_takeover, as its option says.
		r.Header.Set(hdrWSExtensions, "permessage-deflate")
	}
}

// acceptsDeflate reports whether one of the offers in header (RFC 6455
// 9.1: comma-separated, each a name and ;-separated parameters) is a
// permessage-deflate offer the server can accept without context
// takeover: its parameters known, none twice, values valid
// (RFC 7692 7.1: an offer with an invalid parameter is declined), and no
// server_max_window_bits, since the server compresses with the full
// 32 KiB window, the same bytes for every client.
func acceptsDeflate(header string) bool {
	for offer := range strings.SplitSeq(header, ",") {
		params := strings.Split(offer, ";")
		if strings.TrimSpace(params[0]) == "permessage-deflate" && deflateParamsOK(params[1:]) {
			return true
		}
	}
	return false
}

func deflateParamsOK(params []string) bool {
	seen := map[string]bool{}
	for _, p := range params {
		name, value, hasValue := strings.Cut(p, "=")
		name = strings.TrimSpace(name)
		if seen[name] {
			return false
		}
		seen[name] = true
		switch name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if hasValue {
				return false
			}
		case "client_max_window_bits":
			if hasValue && !windowBits(value) {
				return false
			}
		default: // server_max_window_bits, or unknown
			return false
		}
	}
	return true
}

// windowBits reports whether v (a token or a quoted string) is 8 to 15.
func windowBits(v string) bool {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if len(v) == 0 || len(v) > 2 || v[0] == '0' {
		return false
	}
	n, err := strconv.Atoi(v)
	return err == nil && n >= 8 && n <= 15
}

// writeData writes a text or binary frame. A publication shared with
// other connections goes out in its compressed form, made once for all of
// them, when this connection negotiated compression and the publication
// is not under compression.threshold_bytes; every other frame is left to
// gws, which compresses it for this connection alone past the threshold.
func (c *conn) writeData(f *frame) error {
	if f.msg != nil && len(f.data) >= c.s.st().cfg.Compression.ThresholdBytes && c.ws.DeflatedFramesAllowed() {
		p, fresh := f.msg.Deflated()
		if fresh {
			c.svc.metrics.Compressed.Inc()
		}
		return c.ws.WriteDeflated(f.op, p)
	}
	return c.ws.WriteMessage(f.op, f.data)
}
