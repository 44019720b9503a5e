package payload_test

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"io"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/rampart-rt/rampart/payload"
)

func FuzzProcess(f *testing.F) {
	for _, seed := range []string{
		`{"title":"hi","body":"<img src=x onerror=alert(1)>"}`,
		`{"<script>":"</script>","n":[1,2.50,-0,1e400,12345678901234567890]}`,
		`["<b>",{"a":["&amp;",{"'":"\""}]},true,false,null]`,
		`"\u003cscript\u003ealert(1)\u003c/script\u003e"`,
		`{"title":"` + strings.Repeat("x", 81) + `"}`,
		`["reject"]`,
		`{"日本":"🌍 \u2028 é"}`,
		strings.Repeat(`{"a":`, 40) + `"<"` + strings.Repeat("}", 40),
		strings.Repeat("[", 70) + strings.Repeat("]", 70),
		`{"a":1,"a":2}`,
		`[1,2`,
		"\"\xff\"",
	} {
		f.Add([]byte(seed))
	}
	p, err := payload.Compile(payload.Options{SchemaFile: "testdata/fuzz.json", SanitizeHTML: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		out, err := p.Process(data)
		if !bytes.Equal(in, data) {
			t.Fatal("Process modified its input")
		}
		valid := jsontext.Value(in).IsValid()
		if err != nil {
			var perr *payload.Error
			switch {
			case errors.As(err, &perr):
				if len(err.Error()) > 120 {
					t.Fatalf("Error() is %d bytes: %q", len(err.Error()), err)
				}
			case valid || !errors.Is(err, payload.ErrInvalidJSON):
				t.Fatalf("Process(%q): unexpected error %v", in, err)
			}
			return
		}
		if !valid {
			t.Fatalf("Process accepted invalid JSON %q", in)
		}
		if !jsontext.Value(out).IsValid() {
			t.Fatalf("Process(%q) = %q: not valid JSON", in, out)
		}
		if bytes.ContainsAny(out, "<>") {
			t.Fatalf("Process(%q) = %q: raw markup", in, out)
		}
		if err := sameButEscaped(in, out); err != nil {
			t.Fatalf("Process(%q) = %q: %v", in, out, err)
		}
	})
}

// sameButEscaped walks two JSON values in step: the same structure, the
// same raw numbers and literals, and each string of out the HTML-escaped
// string of in, with no < or > left.
func sameButEscaped(in, out []byte) error {
	din := jsontext.NewDecoder(bytes.NewReader(in))
	dout := jsontext.NewDecoder(bytes.NewReader(out))
	for {
		k := din.PeekKind()
		if ko := dout.PeekKind(); ko != k {
			return fmt.Errorf("kind %v, want %v at %s", ko, k, din.StackPointer())
		}
		switch k {
		case 0:
			_, errIn := din.ReadToken()
			_, errOut := dout.ReadToken()
			if errIn != io.EOF || errOut != io.EOF {
				return fmt.Errorf("walk ended with %v, %v", errIn, errOut)
			}
			return nil
		case '"':
			ti, _ := din.ReadToken()
			to, _ := dout.ReadToken()
			if want := html.EscapeString(ti.String()); to.String() != want || strings.ContainsAny(want, "<>") {
				return fmt.Errorf("string %q, want %q", to.String(), want)
			}
		case '0', 't', 'f', 'n':
			vi, _ := din.ReadValue()
			vo, _ := dout.ReadValue()
			if !bytes.Equal(vi, vo) {
				return fmt.Errorf("value %s, want %s", vo, vi)
			}
		default:
			if _, err := din.ReadToken(); err != nil {
				return err
			}
			if _, err := dout.ReadToken(); err != nil {
				return err
			}
		}
	}
}
