package auth

import (
	"net/http"
	"strings"
)

// BearerToken returns the token of r's "Authorization: Bearer" header, or
// "".
func BearerToken(r *http.Request) string {
	v := r.Header.Get("Authorization")
	if len(v) < 7 || !strings.EqualFold(v[:7], "bearer ") {
		return ""
	}
	return strings.TrimSpace(v[7:])
}
