package gws

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws/internal"
	"github.com/stretchr/testify/assert"
)

// 测试用掩码
// Mask key of the test frames
var testMaskKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// 构造一个带掩码的客户端帧, 按 RFC6455 选择长度编码
// Builds a masked client frame, the length encoded as RFC6455 requires
func testClientFrame(b0 byte, payload []byte) []byte {
	var frame = []byte{b0, 0x80}
	switch n := len(payload); {
	case n <= internal.ThresholdV1:
		frame[1] |= byte(n)
	case n <= internal.ThresholdV2:
		frame[1] |= 126
		frame = binary.BigEndian.AppendUint16(frame, uint16(n))
	default:
		frame[1] |= 127
		frame = binary.BigEndian.AppendUint64(frame, uint64(n))
	}
	frame = append(frame, testMaskKey[:]...)
	var masked = append([]byte(nil), payload...)
	internal.MaskXOR(masked, testMaskKey[:])
	return append(frame, masked...)
}

// 构造一个只有 64 位长度的帧头, 不带载荷
// Builds a masked frame header with a 64-bit length and no payload
func testHeader64(b0 byte, length uint64) []byte {
	var frame = []byte{b0, 0x80 | 127}
	frame = binary.BigEndian.AppendUint64(frame, length)
	return append(frame, testMaskKey[:]...)
}

func testCloseFrame(code uint16, reason string) []byte {
	return testClientFrame(0x88, append(binary.BigEndian.AppendUint16(nil, code), reason...))
}

type testCloseReply struct {
	code   uint16
	reason string
}

// 从连接读取一个关闭帧(掩码可选)
// Reads one close frame, masked or not, from the connection
func testReadClose(r io.Reader) (*testCloseReply, error) {
	var head [2]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	if Opcode(head[0]&0x0f) != OpcodeCloseConnection {
		return nil, fmt.Errorf("opcode %d, want a close frame", head[0]&0x0f)
	}
	var n = int(head[1] & 0x7f)
	if n > internal.ThresholdV1 {
		return nil, fmt.Errorf("close frame length code %d", n)
	}
	var key []byte
	if head[1]&0x80 != 0 {
		key = make([]byte, 4)
		if _, err := io.ReadFull(r, key); err != nil {
			return nil, err
		}
	}
	var payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, err
	}
	if key != nil {
		internal.MaskXOR(payload, key)
	}
	var reply = &testCloseReply{}
	if n >= 2 {
		reply.code = binary.BigEndian.Uint16(payload)
		reply.reason = string(payload[2:])
	}
	return reply, nil
}

type testRawResult struct {
	reply    *testCloseReply
	messages []string
	closeErr error
}

// 把原始字节写入服务端连接, 返回服务端发出的关闭帧和收到的消息.
// 读循环中的 panic 会使测试失败, 而不会使测试进程崩溃.
// Feeds raw bytes to a server connection over net.Pipe; returns the close frame the server sent
// and the messages it delivered. A panic in the read loop fails the test instead of killing the binary.
func testReadRaw(t *testing.T, option *ServerOption, input ...[]byte) *testRawResult {
	t.Helper()
	option = initServerOption(option)
	s, c := net.Pipe()
	defer c.Close()

	var result = &testRawResult{}
	var mu sync.Mutex
	var handler = new(webSocketMocker)
	handler.onMessage = func(socket *Conn, message *Message) {
		mu.Lock()
		result.messages = append(result.messages, message.Data.String())
		mu.Unlock()
		_ = message.Close()
	}
	handler.onClose = func(socket *Conn, err error) {
		mu.Lock()
		result.closeErr = err
		mu.Unlock()
	}
	var br = bufio.NewReaderSize(s, option.ReadBufferSize)
	var server = serveWebSocket(true, option.getConfig(), newSmap(), s, br, handler, option.PermessageDeflate.Enabled, "", option.PermessageDeflate)

	var done = make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		server.ReadLoop()
	}()
	go func() {
		for _, p := range input {
			if _, err := c.Write(p); err != nil {
				return
			}
		}
	}()

	type read struct {
		reply *testCloseReply
		err   error
	}
	var replies = make(chan read, 1)
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		reply, err := testReadClose(c)
		replies <- read{reply, err}
	}()

	select {
	case p := <-done:
		if p != nil {
			t.Fatalf("read loop panicked: %v", p)
		}
	case <-time.After(3 * time.Second):
		_ = s.Close()
		t.Fatal("read loop did not end")
	}
	var r = <-replies
	if r.err != nil {
		t.Fatalf("no close frame from the server: %v", r.err)
	}
	mu.Lock()
	defer mu.Unlock()
	result.reply = r.reply
	return result
}

// 复现: 64 位长度最高位为 1 时 Parse 返回负数, readMessage 在切片时 panic.
// Reproducer: a 64-bit length with its top bit set made Parse return a negative int and readMessage panic
// ("slice bounds out of range [:-9223372036854775808]") in the read goroutine.
func TestFrameHeader_Parse64(t *testing.T) {
	var as = assert.New(t)
	for _, length := range []uint64{1 << 63, 1<<63 + 1, math.MaxUint64} {
		var fh frameHeader
		_, err := fh.Parse(bytes.NewReader(testHeader64(0x82, length)))
		as.Equal(internal.CloseProtocolError, err, "length %#x", length)
	}

	var fh frameHeader
	n, err := fh.Parse(bytes.NewReader(testHeader64(0x82, 1<<16)))
	as.NoError(err)
	as.Equal(1<<16, n)

	if strconv.IntSize == 64 {
		n, err = fh.Parse(bytes.NewReader(testHeader64(0x82, math.MaxInt64)))
		as.NoError(err)
		as.Equal(math.MaxInt64, n)
	} else {
		_, err = fh.Parse(bytes.NewReader(testHeader64(0x82, math.MaxInt32+1)))
		as.Equal(internal.CloseProtocolError, err)
	}
}

func TestReadMessage_Length64TopBit(t *testing.T) {
	var as = assert.New(t)
	for _, length := range []uint64{1 << 63, math.MaxUint64} {
		for _, b0 := range []byte{0x82, 0x81, 0x02, 0x80, 0x89, 0x88} {
			var r = testReadRaw(t, &ServerOption{ReadMaxPayloadSize: 1 << 20}, testHeader64(b0, length))
			as.Equal(uint16(1002), r.reply.code, "b0=%#x length=%#x", b0, length)
			as.True(errors.Is(r.closeErr, internal.CloseProtocolError), "OnClose got %v", r.closeErr)
		}
	}

	// 最高位为 0 的超长长度仍然是 1009
	// A long length with the top bit clear is still 1009
	var r = testReadRaw(t, &ServerOption{ReadMaxPayloadSize: 1 << 20}, testHeader64(0x82, math.MaxInt64))
	as.Equal(uint16(1009), r.reply.code)
}

// 真实的 TCP 连接: 服务端回复 1002, 进程存活, 后续连接正常
// Over a real loopback socket: the server answers 1002, the process survives and serves the next connection
func TestReadMessage_Length64TopBitLoopback(t *testing.T) {
	var as = assert.New(t)
	var handler = new(webSocketMocker)
	var echoed = make(chan string, 1)
	handler.onMessage = func(socket *Conn, message *Message) {
		echoed <- message.Data.String()
	}
	var upgrader = NewUpgrader(handler, &ServerOption{ReadMaxPayloadSize: 1 << 20})
	var panics = make(chan any, 4)
	var srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		socket, err := upgrader.Upgrade(w, r)
		if err != nil {
			return
		}
		go func() {
			defer func() {
				if p := recover(); p != nil {
					panics <- p
				}
			}()
			socket.ReadLoop()
		}()
	}))
	defer srv.Close()

	var dial = func() (net.Conn, *bufio.Reader) {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if !as.NoError(err) {
			t.FailNow()
		}
		_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
		_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		var br = bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if !as.NoError(err) || !as.Equal(http.StatusSwitchingProtocols, resp.StatusCode) {
			t.FailNow()
		}
		return conn, br
	}

	conn, br := dial()
	_, err := conn.Write(testHeader64(0x82, 1<<63))
	as.NoError(err)
	reply, err := testReadClose(br)
	as.NoError(err)
	if reply != nil {
		as.Equal(uint16(1002), reply.code)
	}
	_ = conn.Close()

	conn, _ = dial()
	defer conn.Close()
	_, err = conn.Write(testClientFrame(0x81, []byte("still here")))
	as.NoError(err)
	select {
	case s := <-echoed:
		as.Equal("still here", s)
	case p := <-panics:
		t.Fatalf("read loop panicked: %v", p)
	case <-time.After(3 * time.Second):
		t.Fatal("second connection got no message")
	}
	select {
	case p := <-panics:
		t.Fatalf("read loop panicked: %v", p)
	default:
	}
}

// 分片消息: 累计长度在读取载荷之前检查
// Fragmented messages: the accumulated length is checked before the payload is read
func TestReadMessage_ContinuationLimit(t *testing.T) {
	var as = assert.New(t)
	var option = func() *ServerOption { return &ServerOption{ReadMaxPayloadSize: 100} }
	var part = func(n int) []byte { return bytes.Repeat([]byte("a"), n) }

	t.Run("header past the limit is refused before its payload", func(t *testing.T) {
		// 第二个分片只发送帧头: 若在读取载荷之后才检查, 服务端会一直等待载荷
		// Only the second fragment's header is sent: a check made after reading the payload would wait for it
		var header = testClientFrame(0x80, part(60))[:6]
		var r = testReadRaw(t, option(), testClientFrame(0x01, part(60)), header)
		as.Equal(uint16(1009), r.reply.code)
		as.Empty(r.messages)
	})

	t.Run("many small fragments", func(t *testing.T) {
		var input = [][]byte{testClientFrame(0x01, part(10))}
		for i := 0; i < 20; i++ {
			input = append(input, testClientFrame(0x00, part(10)))
		}
		var r = testReadRaw(t, option(), input...)
		as.Equal(uint16(1009), r.reply.code)
		as.Empty(r.messages)
	})

	t.Run("exactly the limit is delivered", func(t *testing.T) {
		var r = testReadRaw(t, option(),
			testClientFrame(0x01, part(40)),
			testClientFrame(0x00, part(40)),
			testClientFrame(0x80, part(20)),
			testCloseFrame(1000, ""),
		)
		as.Equal(uint16(1000), r.reply.code)
		as.Equal([]string{strings.Repeat("a", 100)}, r.messages)
	})

	t.Run("one byte over the limit", func(t *testing.T) {
		var r = testReadRaw(t, option(),
			testClientFrame(0x01, part(50)),
			testClientFrame(0x80, part(51)),
		)
		as.Equal(uint16(1009), r.reply.code)
		as.Empty(r.messages)
	})
}

// 其他读取路径: 每种非法输入都以正确的状态码关闭连接, 不会 panic
// The other read paths: each malformed input fails the connection with the right code, without a panic
func TestReadMessage_MalformedFrames(t *testing.T) {
	var cases = []struct {
		name  string
		input [][]byte
		code  uint16
	}{
		{"ping with length code 126", [][]byte{{0x89, 0x80 | 126, 0x00, 0x7e, 1, 2, 3, 4}}, 1002},
		{"ping with length code 127", [][]byte{testHeader64(0x89, 126)}, 1002},
		{"close with length code 126", [][]byte{{0x88, 0x80 | 126, 0x00, 0x7e, 1, 2, 3, 4}}, 1002},
		{"fragmented ping", [][]byte{testClientFrame(0x09, nil)}, 1002},
		{"continuation without a start", [][]byte{testClientFrame(0x80, []byte("x"))}, 1002},
		{"unfinished continuation without a start", [][]byte{testClientFrame(0x00, []byte("x"))}, 1002},
		{"new message inside a fragmented one", [][]byte{testClientFrame(0x01, []byte("a")), testClientFrame(0x81, []byte("b"))}, 1002},
		{"close with a 1-byte payload", [][]byte{testClientFrame(0x88, []byte{0x03})}, 1002},
		{"close code 999", [][]byte{testCloseFrame(999, "")}, 1002},
		{"close code 1005", [][]byte{testCloseFrame(1005, "")}, 1002},
		{"close code 1006", [][]byte{testCloseFrame(1006, "")}, 1002},
		{"close code 1016", [][]byte{testCloseFrame(1016, "")}, 1002},
		{"close code 5000", [][]byte{testCloseFrame(5000, "")}, 1002},
		{"close code 65535", [][]byte{testCloseFrame(65535, "")}, 1002},
		{"close reason not UTF-8", [][]byte{testCloseFrame(1000, "\xff\xfe")}, 1007},
		{"close code 4000 echoed", [][]byte{testCloseFrame(4000, "bye")}, 4000},
		{"text not UTF-8", [][]byte{testClientFrame(0x81, []byte("\xc3\x28"))}, 1007},
		{"fragmented text not UTF-8", [][]byte{testClientFrame(0x01, []byte("\xc3")), testClientFrame(0x80, []byte("\x28"))}, 1007},
		{"RSV1 without compression", [][]byte{testClientFrame(0x81|0x40, []byte("x"))}, 1002},
		{"RSV2", [][]byte{testClientFrame(0x81|0x20, []byte("x"))}, 1002},
		{"RSV3", [][]byte{testClientFrame(0x81|0x10, []byte("x"))}, 1002},
		{"RSV1 on a ping", [][]byte{testClientFrame(0x89|0x40, nil)}, 1002},
		{"unmasked client frame", [][]byte{{0x81, 0x01, 'x'}}, 1002},
		{"unmasked close frame", [][]byte{{0x88, 0x02, 0x03, 0xe8}}, 1002},
		{"16-bit length over the limit", [][]byte{{0x82, 0x80 | 126, 0xff, 0xff, 1, 2, 3, 4}}, 1009},
	}
	for _, opcode := range []byte{3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf} {
		cases = append(cases, struct {
			name  string
			input [][]byte
			code  uint16
		}{fmt.Sprintf("reserved opcode %#x", opcode), [][]byte{testClientFrame(0x80|opcode, []byte("x"))}, 1002})
		cases = append(cases, struct {
			name  string
			input [][]byte
			code  uint16
		}{fmt.Sprintf("reserved opcode %#x with length code 127", opcode), [][]byte{testHeader64(0x80|opcode, 200)}, 1002})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var as = assert.New(t)
			var r = testReadRaw(t, &ServerOption{ReadMaxPayloadSize: 1024, CheckUtf8Enabled: true}, c.input...)
			as.Equal(c.code, r.reply.code)
			as.Empty(r.messages)
		})
	}
}

// 压缩路径: 限制作用于解压后的长度, 分片的压缩消息同样受限
// The permessage-deflate path: the limit applies to the inflated message, fragmented compressed messages included
func TestReadMessage_CompressedLimit(t *testing.T) {
	var as = assert.New(t)
	var compress = func(p []byte) []byte {
		var buf bytes.Buffer
		fw, _ := flate.NewWriter(&buf, flate.BestCompression)
		_, _ = fw.Write(p)
		_ = fw.Flush()
		return bytes.TrimSuffix(buf.Bytes(), []byte{0x00, 0x00, 0xff, 0xff})
	}
	var option = func() *ServerOption {
		return &ServerOption{ReadMaxPayloadSize: 4096, PermessageDeflate: PermessageDeflate{Enabled: true}}
	}

	t.Run("inflated within the limit", func(t *testing.T) {
		var r = testReadRaw(t, option(), testClientFrame(0xc2, compress(make([]byte, 4096))), testCloseFrame(1000, ""))
		as.Equal(uint16(1000), r.reply.code)
		as.Equal([]string{string(make([]byte, 4096))}, r.messages)
	})

	t.Run("deflate bomb", func(t *testing.T) {
		var bomb = compress(make([]byte, 1<<20))
		as.Less(len(bomb), 4096)
		var r = testReadRaw(t, option(), testClientFrame(0xc2, bomb))
		// 超过限制: 1009 (补丁 6 之前为 1011)
		// Past the limit: 1009 (1011 before patch 6)
		as.Equal(uint16(1009), r.reply.code)
		as.Empty(r.messages)
	})

	t.Run("fragmented compressed message past the limit", func(t *testing.T) {
		var r = testReadRaw(t, option(),
			testClientFrame(0x42, make([]byte, 4000)),
			testClientFrame(0x80, make([]byte, 100))[:6],
		)
		as.Equal(uint16(1009), r.reply.code)
		as.Empty(r.messages)
	})

	t.Run("corrupt deflate data", func(t *testing.T) {
		var r = testReadRaw(t, option(), testClientFrame(0xc2, []byte{0xff, 0xff, 0xff, 0xff}))
		// 损坏的数据: 1007 (补丁 6 之前为 1011)
		// Corrupt data: 1007 (1011 before patch 6)
		as.Equal(uint16(1007), r.reply.code)
		as.Empty(r.messages)
	})
}
