package rampart

import (
	"net/textproto"
	"testing"
)

// The header names the handshake reads are spelled canonically, so that
// http.Header's methods find them without canonicalizing them again.
func TestHandshakeHeaderNamesAreCanonical(t *testing.T) {
	for _, k := range []string{hdrWSKey, hdrWSVersion, hdrWSProtocol, hdrWSExtensions} {
		if c := textproto.CanonicalMIMEHeaderKey(k); c != k {
			t.Errorf("%q is not canonical: %q", k, c)
		}
	}
}
