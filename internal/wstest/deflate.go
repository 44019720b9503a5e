package wstest

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
)

// SetInflate makes ReadMessage inflate permessage-deflate messages (RSV1
// on their first frame), as a client that negotiated compression does,
// the inflated size bounded by the read limit. Off (the default), such a
// message is returned as it came. Like the reads, it belongs to the
// reading goroutine.
func (c *Conn) SetInflate(on bool) { c.inflate = on }

// Inflated reports how many messages ReadMessage inflated.
func (c *Conn) Inflated() int { return c.inflated }

func (c *Conn) finishMessage(op Opcode, msg []byte, compressed bool) (Opcode, []byte, error) {
	if !compressed || !c.inflate {
		return op, msg, nil
	}
	out, err := Inflate(msg, c.readLimit())
	if err != nil {
		return 0, nil, err
	}
	c.inflated++
	return op, out, nil
}

// Deflate compresses p as one permessage-deflate message without context
// takeover: deflated on its own, flushed, the final 00 00 ff ff removed
// (RFC 7692 7.2.1). It is the payload for a Frame with RSV1.
func Deflate(p []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = w.Write(p)
	_ = w.Flush()
	return bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// Inflate decodes one permessage-deflate message, refusing (with an error
// wrapping ErrTooLarge) to produce more than limit bytes.
func Inflate(p []byte, limit uint64) ([]byte, error) {
	src := io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}))
	out, err := io.ReadAll(io.LimitReader(flate.NewReader(src), int64(limit)+1))
	switch {
	case err != nil && !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("wstest: inflating a message: %w", err)
	case uint64(len(out)) > limit:
		return nil, fmt.Errorf("%w: a message inflating to more than %d bytes", ErrTooLarge, limit)
	}
	return out, nil
}
