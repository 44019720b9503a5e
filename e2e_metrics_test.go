package rampart

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// scrape sends GET /metrics to base with key as its bearer token (none when
// empty) and returns the status, the WWW-Authenticate header and the body.
func scrape(t *testing.T, base, key string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body)
}

// wantRefused checks a 401 that says nothing but the category.
func wantRefused(t *testing.T, base, key string) {
	t.Helper()
	status, auth, body := scrape(t, base, key)
	var e struct {
		Error     string `json:"error"`
		RequestID string `json:"request_id"`
	}
	if status != http.StatusUnauthorized || auth != `Bearer realm="rampart-metrics"` ||
		json.Unmarshal([]byte(body), &e) != nil || e.Error != "unauthorized" || e.RequestID == "" {
		t.Fatalf("key %q: %d %q %q, want 401 with a Bearer challenge and a JSON error", key, status, auth, body)
	}
	if strings.Contains(body, "rampart_") {
		t.Fatalf("a refused scrape got metrics: %q", body)
	}
}

func wantMetrics(t *testing.T, base, key string) {
	t.Helper()
	if status, _, body := scrape(t, base, key); status != http.StatusOK || !strings.Contains(body, "rampart_connections ") {
		t.Fatalf("key %q: %d, body %.200q, want the metrics", key, status, body)
	}
}

// With a metrics key configured, /metrics on a real listener answers only
// a scraper that presents it, the way the API checks its keys; a reload
// rotates the key.
func TestMetricsNeedTheKey(t *testing.T) {
	key := rememberSecret("metrics-key-0123456789abcdef-0001")
	apiKey := rememberSecret("api-key-0123456789abcdef-000000001")
	s := startServer(t, func(c *Config) {
		c.MetricsKeys = []string{key}
		c.API.Keys = []string{apiKey}
	})
	base := s.ts.URL
	for _, bad := range []string{"", key[:len(key)-1], key + "x", apiKey, "Basic " + key} {
		wantRefused(t, base, bad)
	}
	wantMetrics(t, base, key)

	cfg := baseConfig()
	next := rememberSecret("metrics-key-0123456789abcdef-0002")
	cfg.MetricsKeys = []string{next}
	if err := s.s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, base, key)
	wantMetrics(t, base, next)
}

// The admin listener's /metrics asks for the key too.
func TestMetricsOnTheAdminListenerNeedTheKey(t *testing.T) {
	key := rememberSecret("metrics-key-0123456789abcdef-0003")
	s := startServer(t, func(c *Config) {
		c.MetricsKeys = []string{key}
		c.AdminSeparate = true
	})
	admin := httptest.NewServer(s.s.AdminHandler())
	t.Cleanup(admin.Close)
	if status, _, _ := scrape(t, s.ts.URL, key); status != http.StatusNotFound {
		t.Fatalf("/metrics on the main listener with AdminSeparate: %d, want 404", status)
	}
	wantRefused(t, admin.URL, "")
	wantMetrics(t, admin.URL, key)
}

// Without a key /metrics stays open, as before (loopback or a private
// admin listener); a key too short to be one is refused by Validate.
func TestMetricsKeyConfig(t *testing.T) {
	s := startServer(t, nil)
	wantMetrics(t, s.ts.URL, "")
	cfg := baseConfig()
	cfg.MetricsKeys = []string{"short"}
	var fe *FieldError
	if err := cfg.Validate(); !errors.As(err, &fe) || fe.Path != "metrics.keys_env" || !strings.Contains(fe.Reason, "shorter than 24") {
		t.Fatalf("Validate: %v", err)
	}
}
