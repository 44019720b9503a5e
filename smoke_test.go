package rampart

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lxzan/gws"

	"github.com/rampart-rt/rampart/policy"
)

type recorder struct {
	gws.BuiltinEventHandler
	msgs chan string
}

func (r *recorder) OnMessage(c *gws.Conn, m *gws.Message) { r.msgs <- m.Data.String(); m.Close() }

func TestSmoke(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	s, err := New(Config{Auth: Auth{HMACSecret: secret}, Channels: []policy.Rule{{Pattern: "chat:*", Subscribe: []string{"*"}, Publish: []string{"*"}, History: policy.History{Size: 10}}}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer ts.Close()
	defer s.Shutdown(context.Background())
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(secret)
	rec := &recorder{msgs: make(chan string, 10)}
	c, resp, err := gws.NewClient(rec, &gws.ClientOption{Addr: "ws" + ts.URL[4:] + "/ws", RequestHeader: http.Header{"Authorization": {"Bearer " + tok}, "Sec-WebSocket-Protocol": {"rampart.v1"}}})
	if err != nil {
		t.Fatal(err, resp)
	}
	go c.ReadLoop()
	t.Log(<-rec.msgs)
	c.WriteString(`{"id":1,"action":"subscribe","channel":"chat:a"}`)
	t.Log(<-rec.msgs)
	c.WriteString(`{"id":2,"action":"publish","channel":"chat:a","data":{"x":1}}`)
	t.Log(<-rec.msgs)
	t.Log(<-rec.msgs)
	c.WriteString(`{"id":3,"action":"publish","channel":"chat:a","data":{"x":1,"x":2}}`)
	t.Log(<-rec.msgs)
	c.WriteString(`{"id":4,"action":"history","channel":"chat:a"}`)
	t.Log(<-rec.msgs)
}
