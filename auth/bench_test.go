package auth

import (
	"context"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkVerify measures one Verify per token, static keys, per family.
func BenchmarkVerify(b *testing.B) {
	v := newVerifier(b, baseConfig())
	cases := []struct {
		name   string
		method jwt.SigningMethod
		key    any
	}{
		{"HS256", jwt.SigningMethodHS256, testSecret},
		{"RS256", jwt.SigningMethodRS256, rsaKey()},
		{"ES256", jwt.SigningMethodES256, ecKey()},
		{"EdDSA", jwt.SigningMethodEdDSA, edKey()},
	}
	for _, c := range cases {
		tok := sign(b, c.method, c.key, validClaims(), nil)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyJWKS measures Verify with the key taken from a cached JWKS.
func BenchmarkVerifyJWKS(b *testing.B) {
	srv := newJWKSServer(b, standardSet(b))
	v := newVerifier(b, jwksConfig(srv.URL, nil))
	tok := sign(b, jwt.SigningMethodRS256, rsaKey(), validClaims(), kid("r1"))
	b.ReportAllocs()
	ctx := context.Background()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
