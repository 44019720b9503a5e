package gws

import (
	"errors"

	"github.com/lxzan/gws/internal"
)

// ErrNotDeflatable 连接未协商压缩, 或本端使用上下文接管, 不能写入预先压缩的帧
// The connection did not negotiate permessage-deflate, or this side compresses with context takeover:
// a frame compressed beforehand cannot be written on it.
var ErrNotDeflatable = errors.New("gws: a pre-compressed frame needs permessage-deflate without context takeover on this side")

// ErrUnsupportedOpcode WriteDeflated 只写文本或二进制消息
// WriteDeflated writes text and binary messages only.
var ErrUnsupportedOpcode = errors.New("gws: only text and binary messages can be written deflated")

// DeflatedFramesAllowed 报告能否在此连接上写入预先压缩的帧(WriteDeflated):
// 已协商 permessage-deflate, 且本端不使用上下文接管.
// DeflatedFramesAllowed reports whether WriteDeflated may be used on this connection:
// permessage-deflate was negotiated and this side compresses without context takeover,
// so each message is compressed on its own and the same compressed bytes suit every such connection.
func (c *Conn) DeflatedFramesAllowed() bool {
	var takeover = internal.SelectValue(c.isServer, c.pd.ServerContextTakeover, c.pd.ClientContextTakeover)
	return c.pd.Enabled && !takeover
}

// WriteDeflated 写入一个已压缩的数据帧(设置 RSV1)
// WriteDeflated writes one final data frame with RSV1 set whose payload is deflated: a message
// compressed beforehand as RFC 7692 7.2.1 describes, on its own (no dictionary), with the final
// 00 00 ff ff of its sync flush removed. Compressing a message once and writing it on many
// connections saves compressing it per connection. The caller answers for the compressed data
// and, for a text message, for its UTF-8: neither is checked here. It fails with
// ErrNotDeflatable unless DeflatedFramesAllowed, and with ErrUnsupportedOpcode for an opcode other
// than text or binary, both without closing the connection; otherwise like WriteMessage.
func (c *Conn) WriteDeflated(opcode Opcode, deflated []byte) error {
	if !c.DeflatedFramesAllowed() {
		return ErrNotDeflatable
	}
	if opcode != OpcodeText && opcode != OpcodeBinary {
		return ErrUnsupportedOpcode
	}
	var err = c.doWriteDeflated(opcode, deflated)
	c.emitError(false, err)
	return err
}

func (c *Conn) doWriteDeflated(opcode Opcode, deflated []byte) error {
	var n = len(deflated)
	if n > c.config.WriteMaxPayloadSize {
		return ErrMessageTooLarge
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClosed() {
		return ErrConnClosed
	}

	var buf = binaryPool.Get(n + frameHeaderSize)
	defer binaryPool.Put(buf)
	buf.Write(framePadding[0:])
	buf.Write(deflated)
	var header = frameHeader{}
	headerLength, maskBytes := header.GenerateHeader(c.isServer, true, true, opcode, n)
	var contents = buf.Bytes()
	if !c.isServer {
		internal.MaskXOR(contents[frameHeaderSize:], maskBytes)
	}
	var m = frameHeaderSize - headerLength
	copy(contents[m:], header[:headerLength])
	return internal.WriteN(c.conn, contents[m:])
}
