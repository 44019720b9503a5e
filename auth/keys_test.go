package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

func rsaKeyOfBits(bits int) (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, bits) }

func TestParsePublicKeyPEM(t *testing.T) {
	rsaPEM := pemOf(t, &rsaKey().PublicKey)
	ecPEM := pemOf(t, &ecKey().PublicKey)
	edPEM := pemOf(t, edKey().Public())
	p384PEM := pemOf(t, &ec384().PublicKey)
	p224 := must(ecdsa.GenerateKey(elliptic.P224(), rand.Reader))
	weak := must(rsaKeyOfBits(1024))
	privDER := must(x509.MarshalPKCS8PrivateKey(ecKey()))
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey().PublicKey)})
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not really")})

	tests := []struct {
		name    string
		in      []byte
		n       int
		wantErr string
	}{
		{"RSA", rsaPEM, 1, ""},
		{"P-256", ecPEM, 1, ""},
		{"P-384", p384PEM, 1, ""},
		{"Ed25519", edPEM, 1, ""},
		{"three blocks with text around", append(append(append([]byte("# keys\n"), rsaPEM...), ecPEM...), edPEM...), 3, ""},
		{"empty", nil, 0, "no PEM block"},
		{"not PEM", []byte("hello"), 0, "no PEM block"},
		{"weak RSA", pemOf(t, &weak.PublicKey), 0, "1024 bits"},
		{"P-224", pemOf(t, &p224.PublicKey), 0, "P-224"},
		{"PKCS1", pkcs1, 0, `"RSA PUBLIC KEY" (PKCS #1)`},
		{"private key", privPEM, 0, "private key"},
		{"certificate", cert, 0, `"CERTIFICATE"`},
		{"good then private", append(append([]byte{}, rsaPEM...), privPEM...), 0, "PEM block 2"},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}), 0, "not a PKIX public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParsePublicKeyPEM(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("accepted, want error containing %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q, want it to contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), strings.Split(string(privPEM), "\n")[1]) {
					t.Fatalf("error shows key material: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePublicKeyPEM: %v", err)
			}
			if len(keys) != tt.n {
				t.Fatalf("got %d keys, want %d", len(keys), tt.n)
			}
			for _, k := range keys {
				if err := checkPublicKey(k); err != nil {
					t.Errorf("returned key fails its own check: %v", err)
				}
			}
		})
	}
}

func TestKeyFitsAlg(t *testing.T) {
	tests := []struct {
		key  crypto.PublicKey
		alg  string
		want bool
	}{
		{&rsaKey().PublicKey, "RS256", true},
		{&rsaKey().PublicKey, "PS512", true},
		{&rsaKey().PublicKey, "HS256", false},
		{&rsaKey().PublicKey, "ES256", false},
		{&ecKey().PublicKey, "ES256", true},
		{&ecKey().PublicKey, "ES384", false},
		{&ec384().PublicKey, "ES384", true},
		{edKey().Public(), "EdDSA", true},
		{edKey().Public(), "ES256", false},
		{testSecret, "HS256", false},
	}
	for _, tt := range tests {
		if got := keyFitsAlg(tt.key, tt.alg); got != tt.want {
			t.Errorf("keyFitsAlg(%s, %s) = %v, want %v", keyKind(tt.key), tt.alg, got, tt.want)
		}
	}
}
