package payload_test

import (
	"testing"

	"github.com/rampart-rt/rampart/payload"
)

// chatMessage is a typical chat publication: about 200 bytes, a little
// markup, a nested object, an array.
var chatMessage = []byte(`{"title":"Release notes","body":"We shipped <b>v2.3</b> today: faster reconnects & smaller frames. Thanks to all who tested!","kind":"text","author":{"id":"u-42","name":"Ada"},"tags":["release","news"]}`)

func BenchmarkProcess(b *testing.B) {
	for _, bm := range []struct {
		name string
		opts payload.Options
	}{
		{"schema+sanitize", payload.Options{SchemaFile: "testdata/chat.json", SanitizeHTML: true}},
		{"schema", payload.Options{SchemaFile: "testdata/chat.json"}},
		{"sanitize", payload.Options{SanitizeHTML: true}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			p := compile(b, bm.opts)
			if _, err := p.Process(chatMessage); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(chatMessage)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Process(chatMessage); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
