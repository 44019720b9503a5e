package gws

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws/internal"
	"github.com/stretchr/testify/assert"
)

type testCloseReasonCall struct {
	code uint16
	err  error
}

// 记录 CloseReason 的调用, 返回固定的原因
// Records the calls to CloseReason and returns a fixed reason
type testCloseReasonRecorder struct {
	mu    sync.Mutex
	calls []testCloseReasonCall
}

func (c *testCloseReasonRecorder) reason(code uint16, err error) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, testCloseReasonCall{code: code, err: err})
	return []byte("bye")
}

func (c *testCloseReasonRecorder) get() []testCloseReasonCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]testCloseReasonCall(nil), c.calls...)
}

func TestCloseReason(t *testing.T) {
	var cases = []struct {
		name   string
		input  [][]byte
		code   uint16
		err    error  // CloseReason 收到的错误 / the error CloseReason receives
		legacy string // 未设置 CloseReason 时的原因 / the reason when CloseReason is nil
	}{
		{"protocol error", [][]byte{testClientFrame(0x81|0x20, []byte("x"))}, 1002, internal.CloseProtocolError, "gws: protocol error"},
		{"reserved opcode", [][]byte{testClientFrame(0x83, nil)}, 1002, nil, "gws: unexpected opcode 3"},
		{"invalid text encoding", [][]byte{testClientFrame(0x81, []byte{0xff})}, 1007, ErrTextEncoding, "gws: invalid text encoding"},
		{"message too large", [][]byte{testClientFrame(0x82, make([]byte, 200))}, 1009, internal.CloseMessageTooLarge, "gws: message too large"},
		{"length with the top bit set", [][]byte{testHeader64(0x82, 1<<63)}, 1002, internal.CloseProtocolError, "gws: protocol error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var as = assert.New(t)
			var option = func() *ServerOption { return &ServerOption{ReadMaxPayloadSize: 100, CheckUtf8Enabled: true} }

			// 未设置: 行为不变
			// Unset: unchanged behaviour
			var r = testReadRaw(t, option(), c.input...)
			as.Equal(c.code, r.reply.code)
			as.Equal(c.legacy, r.reply.reason)

			// 设置: 使用返回的原因, 状态码不变
			// Set: its reason is sent, the code is unchanged
			var recorder = new(testCloseReasonRecorder)
			var o = option()
			o.CloseReason = recorder.reason
			r = testReadRaw(t, o, c.input...)
			as.Equal(c.code, r.reply.code)
			as.Equal("bye", r.reply.reason)
			var calls = recorder.get()
			if as.Len(calls, 1) {
				as.Equal(c.code, calls[0].code)
				if c.err != nil {
					as.True(errors.Is(calls[0].err, c.err), "CloseReason got %v", calls[0].err)
				} else {
					as.Error(calls[0].err)
				}
			}
		})
	}

	t.Run("a nil or empty reason sends the code alone", func(t *testing.T) {
		var as = assert.New(t)
		var r = testReadRaw(t, &ServerOption{CloseReason: func(uint16, error) []byte { return nil }}, testClientFrame(0x83, nil))
		as.Equal(uint16(1002), r.reply.code)
		as.Equal("", r.reply.reason)
	})

	t.Run("a long reason is cut to fit a control frame", func(t *testing.T) {
		var as = assert.New(t)
		var long = make([]byte, 300)
		for i := range long {
			long[i] = 'x'
		}
		var r = testReadRaw(t, &ServerOption{CloseReason: func(uint16, error) []byte { return long }}, testClientFrame(0x83, nil))
		as.Equal(uint16(1002), r.reply.code)
		as.Equal(string(long[:internal.ThresholdV1-2]), r.reply.reason)
	})

	t.Run("a valid close frame is answered with 1000 and the chosen reason", func(t *testing.T) {
		var as = assert.New(t)
		var recorder = new(testCloseReasonRecorder)
		for _, code := range []uint16{1000, 1001, 3000, 4000, 4999} {
			var r = testReadRaw(t, &ServerOption{CloseReason: recorder.reason, CheckUtf8Enabled: true}, testCloseFrame(code, "done"))
			as.Equal(uint16(1000), r.reply.code)
			as.Equal("bye", r.reply.reason)
		}
		for _, call := range recorder.get() {
			as.Equal(testCloseReasonCall{code: 1000}, call)
		}
		// Without the option, upstream's answer: 1000 for 1000-1015, the
		// peer's own code echoed for 3000-4999, no reason.
		for code, want := range map[uint16]uint16{1001: 1000, 3000: 3000, 4000: 4000} {
			var r = testReadRaw(t, &ServerOption{CheckUtf8Enabled: true}, testCloseFrame(code, "done"))
			as.Equal(want, r.reply.code)
			as.Equal("", r.reply.reason)
		}
		// An empty close is answered empty.
		var recorder2 = new(testCloseReasonRecorder)
		var r = testReadRaw(t, &ServerOption{CloseReason: recorder2.reason}, testClientFrame(0x88, nil))
		as.Equal(uint16(0), r.reply.code)
		as.Empty(recorder2.get())
	})

	t.Run("an invalid close frame", func(t *testing.T) {
		var as = assert.New(t)
		var cases = []struct {
			name  string
			frame []byte
			code  uint16
			err   error
		}{
			{"1-byte payload", testClientFrame(0x88, []byte{0x03}), 1002, internal.CloseProtocolError},
			{"code 1005", testCloseFrame(1005, ""), 1002, internal.CloseProtocolError},
			{"code 999", testCloseFrame(999, ""), 1002, internal.CloseProtocolError},
			{"reason not UTF-8", testCloseFrame(1000, "\xff"), 1007, ErrTextEncoding},
		}
		for _, c := range cases {
			// 未设置: 只有状态码, 与之前相同
			// Unset: the code alone, as before
			var r = testReadRaw(t, &ServerOption{CheckUtf8Enabled: true}, c.frame)
			as.Equal(c.code, r.reply.code, c.name)
			as.Equal("", r.reply.reason, c.name)

			var recorder = new(testCloseReasonRecorder)
			r = testReadRaw(t, &ServerOption{CloseReason: recorder.reason, CheckUtf8Enabled: true}, c.frame)
			as.Equal(c.code, r.reply.code, c.name)
			as.Equal("bye", r.reply.reason, c.name)
			var calls = recorder.get()
			if as.Len(calls, 1, c.name) {
				as.Equal(c.code, calls[0].code, c.name)
				as.True(errors.Is(calls[0].err, c.err), "%s: CloseReason got %v", c.name, calls[0].err)
			}
		}
	})

	t.Run("read error", func(t *testing.T) {
		// 网络错误: 原始错误文本(可能含地址)不再发送
		// A network error: its raw text (which may hold addresses) is no longer sent
		var as = assert.New(t)
		var recorder = new(testCloseReasonRecorder)
		var option = initServerOption(&ServerOption{CloseReason: recorder.reason})
		s, c := net.Pipe()
		var server = serveWebSocket(true, option.getConfig(), newSmap(), s, bufio.NewReader(s), new(webSocketMocker), false, "", option.PermessageDeflate)
		var done = make(chan struct{})
		go func() {
			server.ReadLoop()
			close(done)
		}()
		_, _ = c.Write([]byte{0x82, 0x85})
		_ = c.Close()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			t.Fatal("read loop did not end")
		}
		var calls = recorder.get()
		if as.Len(calls, 1) {
			as.Equal(uint16(1000), calls[0].code)
			as.True(errors.Is(calls[0].err, io.EOF) || errors.Is(calls[0].err, io.ErrUnexpectedEOF), "CloseReason got %v", calls[0].err)
		}
	})

	t.Run("write error", func(t *testing.T) {
		var as = assert.New(t)
		var recorder = new(testCloseReasonRecorder)
		var option = initServerOption(&ServerOption{CloseReason: recorder.reason})
		s, c := net.Pipe()
		var server = serveWebSocket(true, option.getConfig(), newSmap(), s, bufio.NewReader(s), new(webSocketMocker), false, "", option.PermessageDeflate)
		_ = c.Close()
		as.Error(server.WriteString("hello"))
		var calls = recorder.get()
		if as.Len(calls, 1) {
			as.Equal(uint16(1001), calls[0].code)
			as.True(errors.Is(calls[0].err, io.ErrClosedPipe), "CloseReason got %v", calls[0].err)
		}
	})

	t.Run("client", func(t *testing.T) {
		// 客户端: ClientOption.CloseReason 被复制到 Config, 客户端的关闭帧同样使用它
		// Client side: ClientOption.CloseReason is copied to Config and chooses the client's close reason too
		var as = assert.New(t)
		var recorder = new(testCloseReasonRecorder)
		var option = initClientOption(&ClientOption{CloseReason: recorder.reason})
		var config = option.getConfig()
		as.NotNil(config.CloseReason)
		as.Nil(initClientOption(&ClientOption{}).getConfig().CloseReason)

		s, c := net.Pipe()
		var client = serveWebSocket(false, config, newSmap(), c, bufio.NewReader(c), new(webSocketMocker), false, "", option.PermessageDeflate)
		go client.ReadLoop()
		go func() { _, _ = s.Write([]byte{0x83, 0x00}) }()
		_ = s.SetReadDeadline(time.Now().Add(3 * time.Second))
		reply, err := testReadClose(s)
		if as.NoError(err) {
			as.Equal(uint16(1002), reply.code)
			as.Equal("bye", reply.reason)
		}
		_ = s.Close()
	})
}

func TestCloseReason_ServerOptionCopied(t *testing.T) {
	var as = assert.New(t)
	var f = func(uint16, error) []byte { return nil }
	as.NotNil(initServerOption(&ServerOption{CloseReason: f}).getConfig().CloseReason)
	as.Nil(initServerOption(&ServerOption{}).getConfig().CloseReason)
	as.NotNil(NewUpgrader(new(BuiltinEventHandler), &ServerOption{CloseReason: f}).option.getConfig().CloseReason)
}
