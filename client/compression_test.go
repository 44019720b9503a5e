package client_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/client"
)

// compressedPublications reads the server's count of publications it
// compressed for delivery.
func compressedPublications(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "rampart_publications_compressed_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("rampart_publications_compressed_total is not registered")
	return 0
}

// Config.Compression offers permessage-deflate: a large publication then
// reaches the client compressed (the server counts it) and intact, and it
// publishes compressed too; without the option, or with the server's
// compression off, everything goes plain and works the same.
func TestCompression(t *testing.T) {
	cases := []struct {
		name           string
		server, client bool
		compressed     float64
	}{
		{"both on", true, true, 1},
		{"client off", true, false, 0},
		{"server off", false, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			srv := startServer(t, func(c *rampart.Config) {
				c.Compression.Enabled = tc.server
				c.Registry = reg
			})
			c := srv.dial(t, "alice", client.Config{Compression: tc.client})
			ctx := ctxFor(t)
			got := newCollector()
			if _, err := c.Subscribe(ctx, "chat:deflate", got.publication); err != nil {
				t.Fatalf("Subscribe: %v", err)
			}
			data := strings.Repeat("all work and no play makes a dull message ", 100)
			if _, err := c.Publish(ctx, "chat:deflate", data); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			pubs := got.waitPubs(t, 1)
			if string(pubs[0].Data) != `"`+data+`"` {
				t.Fatalf("publication of %d bytes, want %d", len(pubs[0].Data), len(data)+2)
			}
			if n := compressedPublications(t, reg); n != tc.compressed {
				t.Fatalf("the server compressed %v publications, want %v", n, tc.compressed)
			}
		})
	}
}
