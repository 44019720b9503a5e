package auth

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerifyValid(t *testing.T) {
	v := newVerifier(t, baseConfig())
	tests := []struct {
		name   string
		method jwt.SigningMethod
		key    any
	}{
		{"HS256", jwt.SigningMethodHS256, testSecret},
		{"HS384", jwt.SigningMethodHS384, testSecret},
		{"HS512", jwt.SigningMethodHS512, testSecret},
		{"RS256", jwt.SigningMethodRS256, rsaKey()},
		{"PS256", jwt.SigningMethodPS256, rsaKey()},
		{"ES256", jwt.SigningMethodES256, ecKey()},
		{"EdDSA", jwt.SigningMethodEdDSA, edKey()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := sign(t, tt.method, tt.key, validClaims(), nil)
			c, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := Claims{
				Subject:   "alice",
				Roles:     []string{"user", "admin"},
				ExpiresAt: fixedNow.Add(time.Hour),
				IssuedAt:  fixedNow.Add(-time.Minute),
				CSRF:      "csrf-value",
				Issuer:    testIssuer,
			}
			if c.Subject != want.Subject || !slices.Equal(c.Roles, want.Roles) ||
				!c.ExpiresAt.Equal(want.ExpiresAt) || !c.IssuedAt.Equal(want.IssuedAt) ||
				c.CSRF != want.CSRF || c.Issuer != want.Issuer {
				t.Fatalf("claims = %+v, want %+v", *c, want)
			}
		})
	}
}

func TestVerifySeveralStaticKeys(t *testing.T) {
	cfg := baseConfig()
	cfg.PublicKeys = []crypto.PublicKey{&rsaKey2().PublicKey, &ecKey2().PublicKey, &rsaKey().PublicKey, &ecKey().PublicKey}
	cfg.Algorithms = []string{"RS256", "ES256"}
	cfg.HMACSecret = nil
	v := newVerifier(t, cfg)
	for _, tok := range []string{
		sign(t, jwt.SigningMethodRS256, rsaKey(), validClaims(), nil),
		sign(t, jwt.SigningMethodRS256, rsaKey2(), validClaims(), nil),
		sign(t, jwt.SigningMethodES256, ecKey2(), validClaims(), nil),
	} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
}

// noneToken builds an unsigned token by hand, as an attacker would.
func noneToken(t *testing.T, alg string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT"})
	p, _ := json.Marshal(validClaims())
	return enc.EncodeToString(h) + "." + enc.EncodeToString(p) + "."
}

func withClaim(k string, v any) jwt.MapClaims {
	c := validClaims()
	if v == nil {
		delete(c, k)
	} else {
		c[k] = v
	}
	return c
}

func TestVerifyRejects(t *testing.T) {
	rsaPEM := pemOf(t, &rsaKey().PublicKey)
	rsOnly := baseConfig()
	rsOnly.Algorithms = []string{"RS256"}
	rsOnly.HMACSecret = nil
	rsOnly.PublicKeys = []crypto.PublicKey{&rsaKey().PublicKey}
	hsOnly := baseConfig()
	hsOnly.Algorithms = []string{"HS256"}
	hsOnly.PublicKeys = nil
	hsAndRS := baseConfig()
	hsAndRS.Algorithms = []string{"HS256", "RS256"}
	hsAndRS.PublicKeys = []crypto.PublicKey{&rsaKey().PublicKey}

	big := validClaims()
	big["pad"] = strings.Repeat("x", MaxTokenBytes)
	past := fixedNow.Add(-time.Hour).Unix()
	future := fixedNow.Add(time.Hour).Unix()

	tests := []struct {
		name  string
		cfg   *Config // nil: baseConfig
		token func(t *testing.T) string
		want  error // nil: ErrInvalidToken only
	}{
		{"expired", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, withClaim("exp", past), nil)
		}, ErrExpired},
		{"nbf in the future", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, withClaim("nbf", future), nil)
		}, nil},
		{"iat in the future", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, withClaim("iat", future), nil)
		}, nil},
		{"wrong iss", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, rsaKey(), withClaim("iss", "https://evil.example.com"), nil)
		}, nil},
		{"missing iss", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, rsaKey(), withClaim("iss", nil), nil)
		}, nil},
		{"wrong aud", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES256, ecKey(), withClaim("aud", "other"), nil)
		}, nil},
		{"expired and wrong iss is not just expired", nil, func(t *testing.T) string {
			c := withClaim("iss", "https://evil.example.com")
			c["exp"] = past
			return sign(t, jwt.SigningMethodHS256, testSecret, c, nil)
		}, nil},
		{"bad signature HS256", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-another"), validClaims(), nil)
		}, nil},
		{"bad signature RS256", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, rsaKey2(), validClaims(), nil)
		}, nil},
		{"bad signature ES256", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES256, ecKey2(), validClaims(), nil)
		}, nil},
		{"tampered payload", nil, func(t *testing.T) string {
			tok := sign(t, jwt.SigningMethodEdDSA, edKey(), validClaims(), nil)
			parts := strings.Split(tok, ".")
			p, _ := json.Marshal(withClaim("sub", "mallory"))
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
		}, nil},
		{"alg none", nil, func(t *testing.T) string { return noneToken(t, "none") }, nil},
		{"alg None", nil, func(t *testing.T) string { return noneToken(t, "None") }, nil},
		{"alg none signed by the library", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, validClaims(), nil)
		}, nil},
		{"HS256 signed with RSA PEM, RS256 configured", &rsOnly, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, rsaPEM, validClaims(), nil)
		}, nil},
		{"HS256 signed with RSA PEM, HS256 and RS256 configured", &hsAndRS, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, rsaPEM, validClaims(), nil)
		}, nil},
		{"alg not in allow-list", &hsOnly, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS384, testSecret, validClaims(), nil)
		}, nil},
		{"RS256 not allowed", &hsOnly, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, rsaKey(), validClaims(), nil)
		}, nil},
		{"ES256 header, P-384 key", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES384, ec384(), validClaims(), map[string]any{"alg": "ES256"})
		}, nil},
		{"unknown alg", nil, func(t *testing.T) string { return noneToken(t, "XS999") }, nil},
		{"crit header", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, validClaims(), map[string]any{"crit": []string{"exp"}})
		}, nil},
		{"missing sub", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, withClaim("sub", nil), nil)
		}, nil},
		{"empty sub", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, withClaim("sub", ""), nil)
		}, nil},
		{"sub not a string", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, withClaim("sub", 42), nil)
		}, nil},
		{"roles a string", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, withClaim("roles", "admin"), nil)
		}, nil},
		{"roles of numbers", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, withClaim("roles", []int{1, 2}), nil)
		}, nil},
		{"roles an object", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, withClaim("roles", map[string]bool{"admin": true}), nil)
		}, nil},
		{"csrf not a string", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, withClaim("csrf", 7), nil)
		}, nil},
		{"missing exp", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, withClaim("exp", nil), nil)
		}, nil},
		{"over 8 KiB", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, big, nil)
		}, nil},
		{"empty", nil, func(*testing.T) string { return "" }, nil},
		{"garbage", nil, func(*testing.T) string { return "this is not a token at all" }, nil},
		{"three dots", nil, func(*testing.T) string { return "..." }, nil},
		{"bad base64", nil, func(*testing.T) string { return "e30.e30.!!!!" }, nil},
		{"padded base64", nil, func(t *testing.T) string {
			tok := sign(t, jwt.SigningMethodHS256, testSecret, validClaims(), nil)
			return tok + "=="
		}, nil},
		{"four segments", nil, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, validClaims(), nil) + ".e30"
		}, nil},
		{"Bearer prefix", nil, func(t *testing.T) string {
			return "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, validClaims(), nil)
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig()
			if tt.cfg != nil {
				cfg = *tt.cfg
			}
			v := newVerifier(t, cfg)
			tok := tt.token(t)
			c, err := v.Verify(context.Background(), tok)
			if c != nil {
				t.Errorf("claims returned with error: %+v", c)
			}
			checkRejected(t, err, tok, tt.want)
			t.Logf("%v", err)
			if tt.want == nil && errors.Is(err, ErrExpired) {
				t.Errorf("error %q claims expiry only", err)
			}
		})
	}
}

func TestLeeway(t *testing.T) {
	cfg := baseConfig()
	cfg.Leeway = time.Minute
	v := newVerifier(t, cfg)
	at := func(d time.Duration) int64 { return fixedNow.Add(d).Unix() }
	tests := []struct {
		name  string
		claim string
		when  time.Duration
		ok    bool
		want  error
	}{
		{"exp just past, inside leeway", "exp", -30 * time.Second, true, nil},
		{"exp past, outside leeway", "exp", -90 * time.Second, false, ErrExpired},
		{"nbf just ahead, inside leeway", "nbf", 30 * time.Second, true, nil},
		{"nbf ahead, outside leeway", "nbf", 90 * time.Second, false, nil},
		{"iat just ahead, inside leeway", "iat", 30 * time.Second, true, nil},
		{"iat ahead, outside leeway", "iat", 90 * time.Second, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := sign(t, jwt.SigningMethodHS256, testSecret, withClaim(tt.claim, at(tt.when)), nil)
			_, err := v.Verify(context.Background(), tok)
			if tt.ok {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			checkRejected(t, err, tok, tt.want)
		})
	}
}

func TestAllowMissingExp(t *testing.T) {
	cfg := baseConfig()
	cfg.AllowMissingExp = true
	v := newVerifier(t, cfg)
	tok := sign(t, jwt.SigningMethodHS256, testSecret, withClaim("exp", nil), nil)
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !c.ExpiresAt.IsZero() {
		t.Errorf("ExpiresAt = %v, want zero", c.ExpiresAt)
	}
	// exp, when present, is still checked.
	tok = sign(t, jwt.SigningMethodHS256, testSecret, withClaim("exp", fixedNow.Add(-time.Hour).Unix()), nil)
	_, err = v.Verify(context.Background(), tok)
	checkRejected(t, err, tok, ErrExpired)
}

func TestRolesAbsent(t *testing.T) {
	v := newVerifier(t, baseConfig())
	for _, roles := range []any{nil, []string{}} {
		c := validClaims()
		delete(c, "roles")
		if roles != nil {
			c["roles"] = roles
		}
		got, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodHS256, testSecret, c, nil))
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if len(got.Roles) != 0 {
			t.Errorf("Roles = %v, want none", got.Roles)
		}
	}
}

func TestTokenSizeLimit(t *testing.T) {
	v := newVerifier(t, baseConfig())
	c := validClaims()
	// Grow a padding claim until the token passes MaxTokenBytes: the last
	// token at or under the limit verifies, the first over it is refused.
	var last string
	for n := MaxTokenBytes*3/4 - 400; ; n++ {
		c["pad"] = strings.Repeat("x", n)
		tok := sign(t, jwt.SigningMethodHS256, testSecret, c, nil)
		if len(tok) <= MaxTokenBytes {
			last = tok
			continue
		}
		if last == "" {
			t.Fatal("padding started above the limit")
		}
		if _, err := v.Verify(context.Background(), last); err != nil {
			t.Fatalf("token of %d bytes: %v", len(last), err)
		}
		_, err := v.Verify(context.Background(), tok)
		checkRejected(t, err, tok, nil)
		if !strings.Contains(err.Error(), "too large") {
			t.Fatalf("token of %d bytes: %v, want too large", len(tok), err)
		}
		return
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	weak := must(rsaKeyOfBits(1024))
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"zero", Config{}, []string{"Algorithms is empty"}},
		{"none and unknown", Config{Algorithms: []string{"none", "HS1"}}, []string{`"none" is not supported`, `"HS1" is not supported`}},
		{"short secret", Config{Algorithms: []string{"HS256"}, HMACSecret: []byte("short")}, []string{"at least 32 bytes"}},
		{"PEM as secret", Config{Algorithms: []string{"HS256"}, HMACSecret: pemOf(t, &rsaKey().PublicKey)}, []string{"looks like a PEM key"}},
		{"unused secret", Config{Algorithms: []string{"RS256"}, HMACSecret: testSecret, PublicKeys: []crypto.PublicKey{&rsaKey().PublicKey}}, []string{"no HS algorithm"}},
		{"no key for RS256", Config{Algorithms: []string{"RS256", "EdDSA"}}, []string{"RS256 is allowed but no public key", "EdDSA is allowed but no public key"}},
		{"weak RSA", Config{Algorithms: []string{"RS256"}, PublicKeys: []crypto.PublicKey{&weak.PublicKey}}, []string{"1024 bits"}},
		{"key fits no alg", Config{Algorithms: []string{"RS256", "ES256"}, PublicKeys: []crypto.PublicKey{&rsaKey().PublicKey, &ecKey().PublicKey, edKey().Public()}}, []string{"PublicKeys[2] (Ed25519) fits none"}},
		{"wrong key type", Config{Algorithms: []string{"RS256"}, PublicKeys: []crypto.PublicKey{rsaKey()}}, []string{"key type *rsa.PrivateKey"}},
		{"JWKS without issuer", Config{Algorithms: []string{"RS256"}, JWKSURL: "https://idp.example.com/jwks"}, []string{"requires Issuer"}},
		{"JWKS bad scheme", Config{Algorithms: []string{"RS256"}, JWKSURL: "file:///etc/jwks.json", Issuer: "x"}, []string{"http or https"}},
		{"JWKS no host", Config{Algorithms: []string{"RS256"}, JWKSURL: "https:///jwks", Issuer: "x"}, []string{"no host"}},
		{"negatives", Config{Algorithms: []string{"RS256"}, JWKSURL: "https://idp.example.com/jwks", Issuer: "x",
			Leeway: -1, JWKSMaxBytes: -1, JWKSRefreshInterval: -1, JWKSRefreshUnknownKIDRate: -1},
			[]string{"Leeway", "JWKSMaxBytes", "JWKSRefreshInterval must", "JWKSRefreshUnknownKIDRate must"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(context.Background(), tt.cfg)
			if err == nil {
				v.Close()
				t.Fatal("New accepted the config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), string(testSecret)) {
				t.Errorf("error contains the secret")
			}
		})
	}
}

func TestConfigNotAliased(t *testing.T) {
	cfg := baseConfig()
	cfg.HMACSecret = append([]byte(nil), testSecret...)
	v := newVerifier(t, cfg)
	tok := sign(t, jwt.SigningMethodHS256, testSecret, validClaims(), nil)
	cfg.HMACSecret[0] ^= 0xff
	cfg.Algorithms[0] = "none"
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify after the caller changed its config: %v", err)
	}
}

func TestCloseTwice(t *testing.T) {
	v := newVerifier(t, baseConfig())
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
}

// The date claims read as jwt.NumericDate reads them: a number, with its
// fraction kept to the second, or a string holding a number; null is
// absent; a number past float64's range or a string that is not a number
// is refused.
func TestVerifyDateForms(t *testing.T) {
	v := newVerifier(t, baseConfig())
	exp := fixedNow.Add(time.Hour)
	for _, c := range []struct {
		name string
		exp  any
		ok   bool
		want time.Time
	}{
		{"integer", exp.Unix(), true, exp},
		{"fraction", float64(exp.Unix()) + 0.75, true, exp},
		{"string number", strconv.FormatInt(exp.Unix(), 10), true, exp},
		{"exponent", json.Number("1.7e9"), false, time.Time{}}, // 2023: expired
		{"null", nil, false, time.Time{}},                      // absent, and exp is required
		{"out of range", json.Number("1e400"), false, time.Time{}},
		{"not a number", "soon", false, time.Time{}},
		{"boolean", true, false, time.Time{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			claims := validClaims()
			claims["exp"] = c.exp
			got, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodHS256, testSecret, claims, nil))
			if c.ok != (err == nil) {
				t.Fatalf("Verify: %v, want ok %t", err, c.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify: %v does not wrap ErrInvalidToken", err)
			}
			if c.ok && !got.ExpiresAt.Equal(c.want) {
				t.Fatalf("ExpiresAt %v, want %v", got.ExpiresAt, c.want)
			}
		})
	}
}
