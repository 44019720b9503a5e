package payload_test

import (
	"errors"
	"fmt"

	"github.com/rampart-rt/rampart/payload"
)

func Example() {
	p, err := payload.Compile(payload.Options{SchemaFile: "testdata/chat.json", SanitizeHTML: true})
	if err != nil {
		fmt.Println(err) // the server refuses to start
		return
	}
	out, err := p.Process([]byte(`{"title":"hi","body":"<img src=x onerror=alert(1)>"}`))
	fmt.Println(string(out), err)

	_, err = p.Process([]byte(`{"title":"hi"}`))
	var perr *payload.Error
	if errors.As(err, &perr) {
		fmt.Printf("pointer %q, reason %q\n", perr.Pointer, perr.Reason)
	}
	// Output:
	// {"title":"hi","body":"&lt;img src=x onerror=alert(1)&gt;"} <nil>
	// pointer "", reason "missing property \"body\""
}
