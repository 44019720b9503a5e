package client

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	minD, maxD := 200*time.Millisecond, 10*time.Second
	for attempt := range 70 {
		want := maxD
		if attempt < 6 {
			want = minD << attempt
		}
		for range 20 {
			if d := backoff(minD, maxD, attempt); d < want/2 || d > want {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
}

func TestReconnectPolicy(t *testing.T) {
	tests := []struct {
		code  int
		retry bool
		least time.Duration
	}{
		{CloseAbnormal, true, 0},
		{1000, false, 0},
		{1001, true, 0},
		{1002, false, 0},
		{1003, false, 0},
		{1007, false, 0},
		{1008, false, 0},
		{1009, false, 0},
		{1011, true, 0},
		{1013, true, 0},
		{4000, false, 0},
		{4001, true, 0},
		{4009, true, 0},
		{4029, true, RateLimitBackoff},
	}
	for _, tt := range tests {
		cause := fmt.Errorf("wrapped: %w", &CloseError{Code: tt.code})
		wait, retry := reconnectDelay(cause)
		if retry != tt.retry || wait != tt.least {
			t.Errorf("close %d: retry %v after %v, want %v after %v", tt.code, retry, wait, tt.retry, tt.least)
		}
	}
	if _, retry := reconnectDelay(errors.New("read: connection reset")); !retry {
		t.Error("a network error is not retried")
	}
}

func TestDialRetry(t *testing.T) {
	tests := []struct {
		status int
		retry  bool
	}{{400, false}, {401, true}, {403, false}, {426, false}, {429, true}, {503, true}}
	for _, tt := range tests {
		wait, retry := dialRetry(&HandshakeError{StatusCode: tt.status, RetryAfter: 5 * time.Second})
		if retry != tt.retry || (retry && tt.status != 401 && wait != 5*time.Second) {
			t.Errorf("HTTP %d: retry %v after %v", tt.status, retry, wait)
		}
	}
}
