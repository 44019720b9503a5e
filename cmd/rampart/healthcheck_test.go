package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.Handle("/moved", http.RedirectHandler("/healthz", http.StatusFound))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	closed := httptest.NewServer(mux)
	closed.Close()
	cases := []struct {
		name string
		args []string
		want int
	}{
		{"200", []string{"--url", srv.URL + "/healthz"}, 0},
		{"503", []string{"--url", srv.URL + "/down"}, 1},
		{"a redirect is not followed", []string{"--url", srv.URL + "/moved"}, 1},
		{"nobody listening", []string{"--url", closed.URL + "/healthz"}, 1},
		{"https is refused", []string{"--url", "https://127.0.0.1:1/healthz"}, 1},
		{"unknown flag", []string{"--nope"}, 2},
		{"stray argument", []string{srv.URL}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(append([]string{"healthcheck"}, tc.args...), io.Discard, io.Discard); got != tc.want {
				t.Errorf("exit %d, want %d", got, tc.want)
			}
		})
	}
}
