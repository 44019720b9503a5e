package payload_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/rampart-rt/rampart/payload"
)

func compile(t testing.TB, opts payload.Options) *payload.Processor {
	t.Helper()
	p, err := payload.Compile(opts)
	if err != nil {
		t.Fatalf("Compile(%+v): %v", opts, err)
	}
	return p
}

func TestSchemaPass(t *testing.T) {
	p := compile(t, payload.Options{SchemaFile: "testdata/chat.json"})
	for _, data := range []string{
		`{"title":"hi","body":"hello"}`,
		` { "title" : "hi", "body" : "x", "kind": "image", "count": 3 } `,
		`{"title":"a","body":"b","author":{"id":"u1","name":"Ada"},"tags":["go","ws"]}`,
		`{"title":"` + strings.Repeat("é", 80) + `","body":""}`, // maxLength counts characters
	} {
		out, err := p.Process([]byte(data))
		if err != nil {
			t.Errorf("Process(%s): %v", data, err)
			continue
		}
		if string(out) != data {
			t.Errorf("Process(%s) = %s, want the data unchanged", data, out)
		}
	}
}

func TestSchemaFail(t *testing.T) {
	p := compile(t, payload.Options{SchemaFile: "testdata/chat.json", SanitizeHTML: true})
	long := strings.Repeat("x", 81)
	tests := []struct{ name, data, want string }{
		{"required", `{"body":"hi"}`, `(root): missing property "title"`},
		{"type", `{"title":5,"body":"x"}`, `/title: must be string, not number`},
		{"root type", `["title"]`, `(root): must be object, not array`},
		{"maxLength", `{"title":"` + long + `","body":"x"}`, `/title: length must be <= 80`},
		{"additionalProperties", `{"title":"a","body":"b","zz":1,"extra":2}`, `/extra: property not allowed`},
		{"enum", `{"title":"a","body":"b","kind":"video"}`, `/kind: must be one of "text", "image", "system"`},
		{"sibling file ref", `{"title":"a","body":"b","author":{"name":"Ada"}}`, `/author: missing property "id"`},
		{"format asserted", `{"title":"a","body":"b","author":{"id":"u","email":"nope"}}`, `/author/email: must be a valid email`},
		{"pattern", `{"title":"a","body":"b","tags":["ok","Bad"]}`, `/tags/1: must match pattern ^[a-z]+$`},
		{"maxItems", `{"title":"a","body":"b","tags":["a","b","c","d","e","f"]}`, `/tags: must have <= 5 items`},
		{"minimum", `{"title":"a","body":"b","count":-1}`, `/count: must be >= 0`},
		{"deepest wins", `{"body":"b","author":{"id":""}}`, `/author/id: length must be >= 1`},
		{"key with markup", `{"title":"a","body":"b","<img src=x>":1}`, `/?img src=x?: property not allowed`},
		{"key with slash", `{"title":"a","body":"b","a/b~c":1}`, `/a~1b~0c: property not allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 20 { // the validator's causes come in map order
				out, err := p.Process([]byte(tt.data))
				var perr *payload.Error
				if !errors.As(err, &perr) {
					t.Fatalf("Process = %s, %v; want *Error", out, err)
				}
				if got := err.Error(); got != tt.want {
					t.Fatalf("Error() = %q, want %q", got, tt.want)
				}
			}
		})
	}
}

// An Error never carries more than 64 bytes of the input, however long the
// offending member name or string, and never its markup.
func TestErrorBoundsEcho(t *testing.T) {
	p := compile(t, payload.Options{SchemaFile: "testdata/chat.json"})
	name := strings.Repeat("K", 1000)
	value := "<script>" + strings.Repeat("V", 10000)
	deep := `{"title":"a","body":"b","author":{"id":"x","name":"` + value + `"}}`
	for _, data := range []string{
		`{"title":"a","body":"b","` + name + `":1}`,
		`{"title":"a","body":"b","tags":["` + value + `"]}`,
		`{"title":"` + value + `","body":"b"}`,
		`{"title":"a","body":"b","` + name + `":1,"tags":["` + value + `"]}`,
		deep,
	} {
		_, err := p.Process([]byte(data))
		if err == nil {
			t.Fatalf("Process accepted %.40s…", data)
		}
		msg := err.Error()
		if n := strings.Count(msg, "K") + strings.Count(msg, "V"); n > 64 {
			t.Errorf("Error() echoes %d bytes of input: %q", n, msg)
		}
		if len(msg) > 120 || strings.Contains(msg, "script") {
			t.Errorf("Error() too long or with markup: %q", msg)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ file, reason string }{
		{"testdata/broken_json.json", "invalid JSON at line 3"},
		{"testdata/broken_keyword.json", "/properties/title/maxLength': got string, want integer"},
		{"testdata/missing.json", "no such file or directory"},
		{"testdata", "not a regular file"},
		{"testdata/escape_ref.json", "is outside"},
		{"testdata/absolute_ref.json", "/etc/passwd is outside"},
		{"testdata/remote_meta.json", "remote reference refused"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p, err := payload.Compile(payload.Options{SchemaFile: tt.file, SanitizeHTML: true})
			if err == nil {
				t.Fatalf("Compile = %v, nil; want an error", p)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "payload: schema "+tt.file+": ") || !strings.Contains(msg, tt.reason) {
				t.Errorf("error %q does not name %s and %q", msg, tt.file, tt.reason)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error has several lines: %q", msg)
			}
		})
	}
}

// roundTripFunc records any HTTP request made through http.DefaultTransport.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRemoteRefRefused(t *testing.T) {
	var requests atomic.Int32
	saved := http.DefaultTransport
	http.DefaultTransport = roundTripFunc(func(*http.Request) (*http.Response, error) {
		requests.Add(1)
		return nil, errors.New("network access in a test")
	})
	t.Cleanup(func() { http.DefaultTransport = saved })

	_, err := payload.Compile(payload.Options{SchemaFile: "testdata/remote_ref.json"})
	if err == nil || !strings.Contains(err.Error(), `"https://evil.example/x.json": remote reference refused`) ||
		!strings.Contains(err.Error(), "testdata/remote_ref.json") {
		t.Fatalf("Compile error = %v, want the remote $ref refused, naming the file", err)
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("%d HTTP requests made while compiling", n)
	}
}

func TestSanitize(t *testing.T) {
	p := compile(t, payload.Options{SanitizeHTML: true})
	tests := []struct{ name, data, want string }{
		{"img", `"<img src=x onerror=alert(1)>"`, `"&lt;img src=x onerror=alert(1)&gt;"`},
		{"script", `{"body":"<script>alert(1)</script>"}`, `{"body":"&lt;script&gt;alert(1)&lt;/script&gt;"}`},
		{"quotes and ampersand", `["\"x\" & 'y'"]`, `["&#34;x&#34; &amp; &#39;y&#39;"]`},
		{"nested", `{"a":[{"b":["<i>",{"c":"</i>"}]}],"d":{"e":{"f":"<b>"}}}`,
			`{"a":[{"b":["&lt;i&gt;",{"c":"&lt;/i&gt;"}]}],"d":{"e":{"f":"&lt;b&gt;"}}}`},
		{"keys", `{"<b onclick=x>":{"<i>":"ok"}}`, `{"&lt;b onclick=x&gt;":{"&lt;i&gt;":"ok"}}`},
		{"escaped markup in the input", `"\u003cscript\u003e"`, `"&lt;script&gt;"`},
		{"escaping twice double-escapes", `"&lt;"`, `"&amp;lt;"`},
		{"escapes stay distinct", `{"<":1,"&lt;":2}`, `{"&lt;":1,"&amp;lt;":2}`},
		{"numbers exact", `[12345678901234567890,1.0,1.50,-0,1e400,2E-7,0.1]`, `[12345678901234567890,1.0,1.50,-0,1e400,2E-7,0.1]`},
		{"literals", `{"t":true,"f":false,"n":null}`, `{"t":true,"f":false,"n":null}`},
		{"unicode", `{"é":"日本語 🌍 \u00e9 \u2028"}`, "{\"é\":\"日本語 🌍 é \u2028\"}"},
		{"order kept", `{"z":1,"a":2,"m":3}`, `{"z":1,"a":2,"m":3}`},
		{"compact", " { \"a\" : [ 1 , \"<\" ] }\n", `{"a":[1,"&lt;"]}`},
		{"empty containers", `{"a":{},"b":[],"c":""}`, `{"a":{},"b":[],"c":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := p.Process([]byte(tt.data))
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			if string(out) != tt.want {
				t.Fatalf("Process(%s)\n got %s\nwant %s", tt.data, out, tt.want)
			}
			if !jsontext.Value(out).IsValid() {
				t.Fatalf("output is not valid JSON: %s", out)
			}
		})
	}
}

// The schema sees the data as sent: 80 '<' pass maxLength 80 although the
// escaped title is 320 bytes.
func TestValidateBeforeSanitize(t *testing.T) {
	p := compile(t, payload.Options{SchemaFile: "testdata/chat.json", SanitizeHTML: true})
	out, err := p.Process([]byte(`{"title":"` + strings.Repeat("<", 80) + `","body":"&"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"title":"` + strings.Repeat("&lt;", 80) + `","body":"&amp;"}`; string(out) != want {
		t.Fatalf("got %s, want %s", out, want)
	}
}

func TestDepth(t *testing.T) {
	nest := func(n int) []byte {
		return []byte(strings.Repeat("[", n) + `"<"` + strings.Repeat("]", n))
	}
	for _, opts := range []payload.Options{
		{SanitizeHTML: true},
		{SchemaFile: "testdata/fuzz.json"},
	} {
		p := compile(t, opts)
		if _, err := p.Process(nest(payload.MaxDepth)); err != nil {
			t.Errorf("%+v: depth %d: %v", opts, payload.MaxDepth, err)
		}
		_, err := p.Process(nest(payload.MaxDepth + 1))
		var perr *payload.Error
		if !errors.As(err, &perr) || perr.Reason != "nesting deeper than 64" {
			t.Errorf("%+v: depth %d: %v, want *Error about nesting", opts, payload.MaxDepth+1, err)
		}
		if _, err := p.Process(nest(100000)); err == nil {
			t.Errorf("%+v: depth 100000 accepted", opts)
		}
	}
}

func TestInvalidJSON(t *testing.T) {
	p := compile(t, payload.Options{SchemaFile: "testdata/fuzz.json", SanitizeHTML: true})
	for _, data := range []string{``, `[1,2`, `1 2`, `{"a":1,"a":2}`, `{"a" 1}`, "\"\xff\""} {
		if _, err := p.Process([]byte(data)); !errors.Is(err, payload.ErrInvalidJSON) {
			t.Errorf("Process(%q) = %v, want ErrInvalidJSON", data, err)
		}
	}
}

func TestNoOp(t *testing.T) {
	data := []byte(` {"a": "<b>", "n": 1.0} `)
	var nilP *payload.Processor
	for name, p := range map[string]*payload.Processor{
		"nil":          nilP,
		"zero options": compile(t, payload.Options{}),
	} {
		out, err := p.Process(data)
		if err != nil || !bytes.Equal(out, data) {
			t.Errorf("%s: Process = %s, %v; want the data unchanged", name, out, err)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	p := compile(t, payload.Options{SchemaFile: "testdata/chat.json", SanitizeHTML: true})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				data := fmt.Sprintf(`{"title":"<%d-%d>","body":"x","count":%d}`, g, i, i)
				want := fmt.Sprintf(`{"title":"&lt;%d-%d&gt;","body":"x","count":%d}`, g, i, i)
				if out, err := p.Process([]byte(data)); err != nil || string(out) != want {
					t.Errorf("Process = %s, %v; want %s", out, err, want)
					return
				}
				if _, err := p.Process([]byte(`{"body":1}`)); err == nil {
					t.Error("invalid data accepted")
					return
				}
			}
		})
	}
	wg.Wait()
}
