package gws

import (
	"bytes"
	"compress/flate"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// 按 RFC 7692 7.2.1 压缩一条消息: 独立压缩, 去掉结尾的 00 00 ff ff
// Compresses one message as RFC 7692 7.2.1 describes: on its own, the final 00 00 ff ff removed
func testDeflate(p []byte) []byte {
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = fw.Write(p)
	_ = fw.Flush()
	return bytes.TrimSuffix(buf.Bytes(), []byte{0x00, 0x00, 0xff, 0xff})
}

func testInflate(p []byte) ([]byte, error) {
	var r = flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
	return io.ReadAll(r)
}

// 已协商压缩时, RSV1 只能出现在数据消息的首帧; RSV2/RSV3 永远不能出现
// With permessage-deflate negotiated, RSV1 belongs on the first frame of a data message only
// (RFC 7692 6.1), RSV2 and RSV3 nowhere; inflate failures close with 1009 or 1007, not 1011.
func TestReadMessage_DeflateFrames(t *testing.T) {
	var hello = testDeflate([]byte("hello"))
	var cases = []struct {
		name     string
		input    [][]byte
		code     uint16
		messages []string
	}{
		{"compressed text", [][]byte{testClientFrame(0xc1, hello), testCloseFrame(1000, "")}, 1000, []string{"hello"}},
		{"compressed text in two fragments", [][]byte{testClientFrame(0x41, hello[:2]), testClientFrame(0x80, hello[2:]), testCloseFrame(1000, "")}, 1000, []string{"hello"}},
		{"uncompressed text", [][]byte{testClientFrame(0x81, []byte("plain")), testCloseFrame(1000, "")}, 1000, []string{"plain"}},
		{"RSV1 on a ping", [][]byte{testClientFrame(0xc9, nil)}, 1002, nil},
		{"RSV1 on a pong", [][]byte{testClientFrame(0xca, nil)}, 1002, nil},
		{"RSV1 on a close", [][]byte{testClientFrame(0xc8, []byte{0x03, 0xe8})}, 1002, nil},
		{"RSV1 on a continuation", [][]byte{testClientFrame(0x41, hello[:2]), testClientFrame(0xc0, hello[2:])}, 1002, nil},
		{"RSV1 on a continuation of an uncompressed message", [][]byte{testClientFrame(0x01, []byte("a")), testClientFrame(0xc0, []byte("b"))}, 1002, nil},
		{"RSV2 on a text", [][]byte{testClientFrame(0xa1, []byte("x"))}, 1002, nil},
		{"RSV3 on a text", [][]byte{testClientFrame(0x91, []byte("x"))}, 1002, nil},
		{"RSV1 and RSV2 on a text", [][]byte{testClientFrame(0xe1, hello)}, 1002, nil},
		{"deflate bomb", [][]byte{testClientFrame(0xc1, testDeflate(make([]byte, 1<<20)))}, 1009, nil},
		{"corrupt deflate data", [][]byte{testClientFrame(0xc1, []byte{0xff, 0xff, 0xff, 0xff})}, 1007, nil},
		{"reserved deflate block type", [][]byte{testClientFrame(0xc1, []byte{0x07, 0x00})}, 1007, nil},
		{"inflated text not UTF-8", [][]byte{testClientFrame(0xc1, testDeflate([]byte("\xc3\x28")))}, 1007, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var as = assert.New(t)
			var option = &ServerOption{ReadMaxPayloadSize: 4096, CheckUtf8Enabled: true, PermessageDeflate: PermessageDeflate{Enabled: true}}
			var r = testReadRaw(t, option, c.input...)
			as.Equal(c.code, r.reply.code)
			as.Equal(c.messages, r.messages)
		})
	}
}

// 预先压缩的帧: 服务端与客户端各写一条, 对端解压得到原文
// A frame compressed beforehand, written by a server and by a (masking) client over a real socket,
// reaches the peer as the original message; refused where compression is off or uses context takeover.
func TestWriteDeflated(t *testing.T) {
	var as = assert.New(t)
	var text = strings.Repeat(`{"channel":"news","data":"hello"}`, 40)
	var deflated = testDeflate([]byte(text))
	var received = make(chan string, 2)
	var serverHandler = &webSocketMocker{}
	serverHandler.onOpen = func(socket *Conn) {
		as.True(socket.DeflatedFramesAllowed())
		as.NoError(socket.WriteDeflated(OpcodeText, deflated))
	}
	serverHandler.onMessage = func(socket *Conn, message *Message) {
		received <- "server got " + message.Data.String()
	}
	var upgrader = NewUpgrader(serverHandler, &ServerOption{
		PermessageDeflate: PermessageDeflate{Enabled: true},
	})
	var srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		socket, err := upgrader.Upgrade(w, r)
		if err != nil {
			return
		}
		go socket.ReadLoop() // calls OnOpen
	}))
	defer srv.Close()

	var clientHandler = &webSocketMocker{}
	clientHandler.onMessage = func(socket *Conn, message *Message) {
		received <- "client got " + message.Data.String()
	}
	client, resp, err := NewClient(clientHandler, &ClientOption{
		Addr:              "ws://" + srv.Listener.Addr().String(),
		PermessageDeflate: PermessageDeflate{Enabled: true},
	})
	if !as.NoError(err) {
		return
	}
	defer client.NetConn().Close()
	as.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "server_no_context_takeover")
	go client.ReadLoop()
	as.True(client.DeflatedFramesAllowed())
	as.NoError(client.WriteDeflated(OpcodeText, deflated))
	as.Equal(ErrUnsupportedOpcode, client.WriteDeflated(OpcodePing, deflated))

	var got []string
	for len(got) < 2 {
		select {
		case m := <-received:
			got = append(got, m)
		case <-time.After(3 * time.Second):
			t.Fatalf("received only %q", got)
		}
	}
	as.ElementsMatch([]string{"client got " + text, "server got " + text}, got)
}

// 未协商压缩, 或使用上下文接管时, 拒绝写入且不关闭连接
// Without compression, or with context takeover on the writing side, WriteDeflated refuses and the
// connection stays usable.
func TestWriteDeflated_Refused(t *testing.T) {
	var cases = []struct {
		name string
		pd   PermessageDeflate
	}{
		{"compression not negotiated", PermessageDeflate{}},
		{"server context takeover", PermessageDeflate{Enabled: true, ServerContextTakeover: true, ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var as = assert.New(t)
			var option = initServerOption(&ServerOption{PermessageDeflate: c.pd})
			s, peer := net.Pipe()
			defer peer.Close()
			var pd = option.PermessageDeflate
			var socket = serveWebSocket(true, option.getConfig(), newSmap(), s, nil, &webSocketMocker{}, pd.Enabled, "", pd)
			as.False(socket.DeflatedFramesAllowed())
			as.Equal(ErrNotDeflatable, socket.WriteDeflated(OpcodeText, testDeflate([]byte("x"))))
			go func() { _ = socket.WriteString("still open") }()
			var frame = make([]byte, 12)
			_ = peer.SetReadDeadline(time.Now().Add(3 * time.Second))
			_, err := io.ReadFull(peer, frame)
			as.NoError(err)
			as.Equal([]byte{0x81, 10}, frame[:2])
			as.Equal("still open", string(frame[2:]))
		})
	}
}

// 写入的帧字节: 服务端不加掩码, FIN 与 RSV1 置位
// The bytes of a deflated frame a server writes: FIN and RSV1 set, no mask, the payload as given.
func TestWriteDeflated_Bytes(t *testing.T) {
	var as = assert.New(t)
	var pd = PermessageDeflate{Enabled: true, ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}
	var option = initServerOption(&ServerOption{PermessageDeflate: pd})
	s, peer := net.Pipe()
	defer peer.Close()
	var socket = serveWebSocket(true, option.getConfig(), newSmap(), s, nil, &webSocketMocker{}, true, "", option.PermessageDeflate)
	var deflated = testDeflate([]byte(strings.Repeat("a", 300)))
	go func() { _ = socket.WriteDeflated(OpcodeBinary, deflated) }()
	var frame = make([]byte, 2+len(deflated))
	_ = peer.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := io.ReadFull(peer, frame)
	as.NoError(err)
	as.Equal([]byte{0xc2, byte(len(deflated))}, frame[:2])
	inflated, err := testInflate(frame[2:])
	as.NoError(err)
	as.Equal(strings.Repeat("a", 300), string(inflated))
}
