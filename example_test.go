package rampart_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/policy"
)

// A server embedded in a program: New validates the configuration and
// returns an http.Handler; HTTPServer gives it the timeouts a WebSocket
// endpoint needs.
func ExampleNew() {
	srv, err := rampart.New(rampart.Config{
		Origins: rampart.Origins{Allow: []string{"https://app.example.com"}},
		Auth:    rampart.Auth{HMACSecret: []byte(os.Getenv("RAMPART_JWT_SECRET"))},
		Channels: []policy.Rule{
			{Pattern: "news:*", Subscribe: []string{"user"}, Publish: []string{"editor"},
				History: policy.History{Size: 100, TTL: 10 * time.Minute}},
			{Pattern: "user:{sub}", Subscribe: []string{policy.RoleSelf}},
		},
		Logger: slog.Default(),
	})
	if err != nil {
		log.Fatal(err) // every problem at once, each naming its key
	}
	hs := srv.HTTPServer()
	hs.Addr = "127.0.0.1:8080"
	go func() {
		if err := hs.ListenAndServe(); err != http.ErrServerClosed {
			log.Print(err)
		}
	}()
	// ... until the program stops:
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = hs.Shutdown(ctx)  // stop accepting
	_ = srv.Shutdown(ctx) // close every WebSocket with 1001
}

// Configuration mistakes are reported together, each with its key.
func ExampleConfig_Validate() {
	err := rampart.Config{
		Limits:   rampart.Limits{MaxMessageBytes: 10},
		Channels: []policy.Rule{{Pattern: "a/b"}},
	}.Validate()
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.HasPrefix(line, "limits.") || strings.HasPrefix(line, "channels") {
			fmt.Println(line)
		}
	}
	// Output:
	// limits.max_message_bytes: must be between 128 and 16777216, not 10
	// channels[0]: pattern has character '/' (allowed: A-Z a-z 0-9 _ . : @ -, * and {sub})
}
