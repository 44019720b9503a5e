package console

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// The page runs under a policy without 'unsafe-inline' or 'unsafe-eval',
// and never turns received text into markup.
func TestNoInlineCodeNoHTMLSinks(t *testing.T) {
	read := func(name string) string {
		b, err := static.ReadFile("static/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	html := read("console.html")
	for _, re := range []string{`<style`, `\sstyle=`, `\son[a-z]+=`, `javascript:`, `<script[^>]*>[^<]+</script>`} {
		if regexp.MustCompile(`(?i)` + re).MatchString(html) {
			t.Errorf("console.html matches %s", re)
		}
	}
	js := read("console.js")
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", ".style", "setAttribute('style'", "localStorage", "sessionStorage"} {
		if strings.Contains(js, sink) {
			t.Errorf("console.js uses %s", sink)
		}
	}
}

func TestPagesServed(t *testing.T) {
	h := pageHandler(http.NotFoundHandler())
	mux := http.NewServeMux()
	mux.Handle("GET /console/{$}", h)
	mux.Handle("GET /console/static/{name}", h)
	tests := []struct {
		path, ctype string
		status      int
	}{
		{"/console/", "text/html; charset=utf-8", 200},
		{"/console/static/console.js", "text/javascript; charset=utf-8", 200},
		{"/console/static/console.css", "text/css; charset=utf-8", 200},
		{"/console/static/rampart.js", "text/javascript; charset=utf-8", 200},
		{"/console/static/favicon.svg", "image/svg+xml", 200},
		{"/console/static/console.html", "", 404},
		{"/console/static/missing.js", "", 404},
		{"/console/static/..%2fconsole.go", "", 404},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
		if rec.Code != tt.status || tt.status == 200 && rec.Header().Get("Content-Type") != tt.ctype {
			t.Errorf("%s: %d %q, want %d %q", tt.path, rec.Code, rec.Header().Get("Content-Type"), tt.status, tt.ctype)
		}
	}
}
