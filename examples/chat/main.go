// Command chat is a terminal chat on a Rampart server, written with the Go
// client: it subscribes to a channel, prints what is published there and
// publishes every line read from stdin.
//
// Start a dev server, which prints a token (valid for an hour):
//
//	rampart serve --dev
//
// then, in two terminals:
//
//	RAMPART_TOKEN=<token> go run ./examples/chat
//	go run ./examples/chat -token <token>
//
// When the server refuses the connection (an expired token, say, once the
// client reconnects), chat prints the server's refusal code and what it
// means, and exits with status 1 if retrying cannot help.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rampart-rt/rampart/client"
)

type message struct {
	Text string `json:"text"`
}

func main() {
	url := flag.String("url", "ws://127.0.0.1:8080/ws", "the server's WebSocket endpoint")
	token := flag.String("token", os.Getenv("RAMPART_TOKEN"), "a token for the server (default $RAMPART_TOKEN)")
	channel := flag.String("channel", "chat:lobby", "the channel to chat on")
	flag.Parse()
	if *token == "" {
		log.Fatal("chat: give a token with -token or RAMPART_TOKEN (rampart serve --dev prints one)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *url, *token, *channel, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", describe(err))
		os.Exit(1)
	}
}

// hints say what each refusal code of the handshake means for a user.
var hints = map[string]string{
	"unauthorized":         "the token is expired, malformed or signed with another secret: get a new one",
	"origin_refused":       "the server does not allow this client's Origin (origins.allow, origins.allow_missing)",
	"csrf_failed":          "a cookie session without its CSRF value",
	"subprotocol_required": "the server wants the rampart.v1 subprotocol",
	"rate_limited":         "too many connections or handshakes from here: try again later",
	"unavailable":          "the server is draining or full: try again later",
	"not_found":            "nothing answers WebSockets at this URL's path",
}

// describe says why the client stopped: for a refused handshake, the
// server's code, the HTTP status and what the code means.
func describe(err error) string {
	var he *client.HandshakeError
	if !errors.As(err, &he) {
		return err.Error()
	}
	s := fmt.Sprintf("the server refused the connection: %s (HTTP %d", he.Code, he.StatusCode)
	if he.RequestID != "" {
		s += ", request_id " + he.RequestID
	}
	s += ")"
	if h := hints[he.Code]; h != "" {
		s += ": " + h
	}
	return s
}

func run(ctx context.Context, url, token, channel string, in io.Reader, out io.Writer) error {
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.Dial(dialCtx, client.Config{
		URL:   url,
		Token: func(context.Context) (string, error) { return token, nil },
		OnState: func(s client.State) {
			if s != client.StateConnected {
				fmt.Fprintf(out, "* %s\n", s)
			}
		},
		// Told of every refused reconnection; the client stops on those
		// that retrying cannot heal, and run returns why.
		OnRefused: func(he *client.HandshakeError) {
			fmt.Fprintf(out, "* refused: %s\n", describe(he))
		},
	})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Subscribe(ctx, channel, func(p client.Publication) {
		var m message
		if json.Unmarshal(p.Data, &m) != nil {
			m.Text = string(p.Data)
		}
		fmt.Fprintf(out, "[%d] %s: %s\n", p.Offset, p.User, m.Text)
	}, client.OnRecoveryFailed(func(lost, now client.Position) {
		fmt.Fprintf(out, "* messages %d to %d were missed while disconnected\n", lost.Offset+1, now.Offset)
	}))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "* connected as %s; type a line to send it to %s\n", c.Welcome().User, channel)

	lines := make(chan string)
	go readLines(in, lines) // ends with stdin; not waited for
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.Done():
			return c.Err()
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			if err := publish(ctx, c, channel, line); err != nil {
				fmt.Fprintf(out, "* not sent: %v\n", err)
			}
		}
	}
}

func publish(ctx context.Context, c *client.Client, channel, line string) error {
	if line == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := c.Publish(ctx, channel, message{Text: line})
	var e *client.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return fmt.Errorf("%s, try again in %s", e.Code, e.RetryAfter)
	}
	return err
}

func readLines(in io.Reader, lines chan<- string) {
	defer close(lines)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		lines <- sc.Text()
	}
}
