package console

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/rampart-rt/rampart/web"
)

//go:embed static
var static embed.FS

// pageHandler serves the console's page at /console/ and its files at
// /console/static/NAME: its own from static/, and the JavaScript client
// (rampart.js) from package web, the file the demo page uses. Any other
// name goes to notFound.
func pageHandler(notFound http.Handler) http.Handler {
	files := http.FileServerFS(static)
	client := web.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		r2 := r.Clone(r.Context())
		switch {
		case name == "":
			serveHTML(w, r)
		case name == "rampart.js":
			r2.URL.Path = "/static/rampart.js"
			client.ServeHTTP(w, r2)
		case servable(name):
			r2.URL.Path = "/static/" + name
			files.ServeHTTP(w, r2)
		default:
			notFound.ServeHTTP(w, r)
		}
	})
}

// servable reports whether name is one of the page's own files.
func servable(name string) bool {
	if !strings.HasSuffix(name, ".js") && !strings.HasSuffix(name, ".css") && !strings.HasSuffix(name, ".svg") {
		return false
	}
	_, err := fs.Stat(static, "static/"+name)
	return err == nil && !strings.Contains(name, "/")
}

// serveHTML serves the page itself.
func serveHTML(w http.ResponseWriter, r *http.Request) {
	b, err := static.ReadFile("static/console.html")
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b)
}

// setPageHeaders sets the demo page's strict policy and security headers
// on every console answer: only this origin's scripts, styles and images,
// sockets to this host, never framed, no inline code.
func setPageHeaders(h http.Header, r *http.Request) {
	connect := "'self'"
	if host := r.Host; host != "" && !strings.ContainsAny(host, " ;,'\"") {
		connect += " ws://" + host + " wss://" + host
	}
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src "+connect+
		"; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}
