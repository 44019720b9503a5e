package auth

import (
	"context"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func BenchmarkVerifyFreshGoroutine(b *testing.B) {
	v := newVerifier(b, baseConfig())
	tok := sign(b, jwt.SigningMethodHS256, testSecret, validClaims(), nil)
	b.ReportAllocs()
	done := make(chan struct{})
	for b.Loop() {
		go func() {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				panic(err)
			}
			done <- struct{}{}
		}()
		<-done
	}
}
func BenchmarkFreshGoroutineOnly(b *testing.B) {
	done := make(chan struct{})
	for b.Loop() {
		go func() {
			done <- struct{}{}
		}()
		<-done
	}
}
