package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// MinRSABits is the smallest RSA modulus accepted, from PEM or JWKS.
const MinRSABits = 2048

// ParsePublicKeyPEM parses every PEM block of data. Each block must be a
// "PUBLIC KEY" (PKIX) block holding an RSA key of at least 2048 bits, an ECDSA
// key on P-256, P-384 or P-521, or an Ed25519 key. Text around the blocks is
// ignored; any other block type is refused with an error that names the type
// but never shows its content.
func ParsePublicKeyPEM(data []byte) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	rest := data
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		k, err := parsePEMBlock(block)
		if err != nil {
			return nil, fmt.Errorf("auth: PEM block %d: %w", n, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New(`auth: no PEM block found; want "PUBLIC KEY" (PKIX) blocks`)
	}
	if bytes.Contains(rest, []byte("-----BEGIN")) {
		return nil, errors.New("auth: PEM data has a malformed block after the last valid one")
	}
	return keys, nil
}

func parsePEMBlock(b *pem.Block) (crypto.PublicKey, error) {
	switch {
	case b.Type == "PUBLIC KEY":
	case b.Type == "RSA PUBLIC KEY":
		return nil, errors.New(`type "RSA PUBLIC KEY" (PKCS #1) is not accepted; convert it to "PUBLIC KEY" (PKIX), e.g. openssl rsa -RSAPublicKey_in -pubout`)
	case b.Type == "CERTIFICATE":
		return nil, errors.New(`type "CERTIFICATE" is not accepted; extract its "PUBLIC KEY", e.g. openssl x509 -pubkey -noout`)
	case strings.Contains(b.Type, "PRIVATE KEY"):
		return nil, fmt.Errorf("type %q is a private key; give the public key only", b.Type)
	default:
		return nil, fmt.Errorf(`type %q is not accepted; want "PUBLIC KEY" (PKIX)`, b.Type)
	}
	if len(b.Headers) != 0 {
		return nil, errors.New("encrypted or annotated PEM blocks are not accepted")
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a PKIX public key: %w", err)
	}
	if err := checkPublicKey(k); err != nil {
		return nil, err
	}
	return k, nil
}

// checkPublicKey refuses key types and sizes the Verifier does not use.
func checkPublicKey(k crypto.PublicKey) error {
	switch k := k.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return errors.New("nil RSA key")
		}
		if k.N.BitLen() < MinRSABits {
			return fmt.Errorf("RSA key of %d bits; at least %d are required", k.N.BitLen(), MinRSABits)
		}
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return errors.New("nil ECDSA key")
		}
		if curveAlg(k.Curve) == "" {
			return fmt.Errorf("ECDSA curve %s is not accepted; use P-256, P-384 or P-521", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return errors.New("malformed Ed25519 key")
		}
	default:
		return fmt.Errorf("key type %T is not accepted; use RSA, ECDSA or Ed25519 public keys", k)
	}
	return nil
}

// curveAlg is the only algorithm an ECDSA key on curve c may verify.
func curveAlg(c elliptic.Curve) string {
	switch c {
	case elliptic.P256():
		return "ES256"
	case elliptic.P384():
		return "ES384"
	case elliptic.P521():
		return "ES512"
	}
	return ""
}

// keyFitsAlg reports whether key may verify a token signed with alg. HMAC
// secrets are never handled here: an asymmetric key is never an HMAC key.
func keyFitsAlg(key any, alg string) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return supportedAlgs[alg] == familyRSA && k != nil && k.N != nil && k.N.BitLen() >= MinRSABits
	case *ecdsa.PublicKey:
		return k != nil && k.Curve != nil && curveAlg(k.Curve) == alg
	case ed25519.PublicKey:
		return alg == "EdDSA" && len(k) == ed25519.PublicKeySize
	}
	return false
}

// keyKind names a key for configuration errors.
func keyKind(k crypto.PublicKey) string {
	switch k := k.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", k)
}
