package settings

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/rampart-rt/rampart/auth"
)

// authConfig is the token verifier's configuration for a (with defaults).
func authConfig(a Auth) auth.Config {
	return auth.Config{
		Algorithms:      a.Algorithms,
		HMACSecret:      a.HMACSecret,
		PublicKeys:      a.PublicKeys,
		JWKSURL:         a.JWKSURL,
		Issuer:          a.Issuer,
		Audience:        a.Audience,
		Leeway:          a.Leeway,
		AllowMissingExp: !*a.RequireExp,
	}
}

// checkVerifier runs the token verifier's own checks (the secret's length,
// whether each key fits an allowed algorithm, the JWKS URL) and reports
// each under the key it is about.
func checkVerifier(a Auth, p *problems) {
	err := authConfig(a).Validate()
	if err == nil {
		return
	}
	for _, e := range unjoin(err) {
		if path, reason, ok := authProblem(e.Error()); ok {
			p.add(path, "%s", reason)
		}
	}
}

// authNames translates the token verifier's setting names into the keys of
// the configuration file, so that its messages name what the operator
// wrote. The first name found in a message gives the problem's path.
var authNames = []struct{ name, path, words string }{
	{"HMACSecret", "auth.hmac_secret_env", "the HMAC secret"},
	{"JWKSURL", "auth.jwks_url", "auth.jwks_url"},
	{"PublicKeys", "auth.public_key_files", "public key"},
	{"Issuer", "auth.issuer", "auth.issuer"},
	{"Algorithms", "auth.algorithms", "auth.algorithms"},
}

// keyIndex is the verifier's "PublicKeys[0]".
var keyIndex = regexp.MustCompile(`PublicKeys\[(\d+)\]`)

// authProblem turns one of the verifier's messages into a key path and a
// reason; ok is false for problems Auth.check already reported (an
// unknown algorithm, a negative leeway).
func authProblem(msg string) (path, reason string, ok bool) {
	reason = strings.TrimPrefix(msg, "auth: ")
	if strings.HasSuffix(reason, "is not supported") || strings.HasPrefix(reason, "Leeway ") {
		return "", "", false
	}
	reason = keyIndex.ReplaceAllStringFunc(reason, func(m string) string {
		n, _ := strconv.Atoi(keyIndex.FindStringSubmatch(m)[1])
		return "public key " + strconv.Itoa(n+1)
	})
	path = "auth"
	if strings.HasPrefix(reason, "algorithm ") {
		path = "auth.algorithms" // allowed, but nothing can verify it
	}
	for _, n := range authNames {
		if strings.Contains(reason, n.name) || (n.name == "PublicKeys" && strings.Contains(reason, "public key ")) {
			if path == "auth" {
				path = n.path
			}
			reason = strings.ReplaceAll(reason, n.name, n.words)
		}
	}
	return path, reason, true
}
