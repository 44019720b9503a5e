package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// check is one probe: what an attacker gains when it fails (Title), what it
// sends (Sends, for --dry-run and docs/audit.md), how to fix it, and the
// code that runs it.
type check struct {
	ID         string
	Profile    string // "" for the generic checks, valid for any WebSocket server
	Severity   Severity
	Title      string
	Sends      string
	Fix        string
	background bool // runs alongside the others, from after the baseline to its place in the list
	run        func(*auditor, context.Context) verdict
}

// Profiles, each with the checks that need its application protocol.
var profiles = map[string][]check{
	"rampart":    rampartChecks,
	"socketio":   socketioChecks,
	"centrifugo": centrifugoChecks,
}

// ProfileNames are the values --profile takes.
var ProfileNames = []string{"rampart", "socketio", "centrifugo"}

// plan is the list of checks for profile, in the order they run: the
// generic ones, the profile's, then the bursts (which may leave the server
// limiting this address) and the idle connection.
func plan(profile string) []check {
	out := append([]check{}, genericChecks...)
	out = append(out, profiles[profile]...)
	return append(out, lastChecks...)
}

// All returns every check of every profile, for docs and tests.
func allChecks() []check {
	out := plan("")
	for _, p := range ProfileNames {
		out = append(out, profiles[p]...)
	}
	return out
}

var genericChecks = []check{
	{ID: "baseline", Severity: SevNone, Title: "the audit can connect as the user does",
		Sends: "an upgrade with the credentials, the origin and the subprotocol given",
		Fix:   "give the audit what a real client sends: --token or --cookie, --origin, --subprotocol",
		run:   (*auditor).checkBaseline},
	{ID: "cswsh-foreign-origin", Severity: SevHigh, Title: "a foreign web page can open the user's connection (cross-site WebSocket hijacking)",
		Sends: "the baseline upgrade with Origin: https://evil.example",
		Fix:   "check Origin against an exact allow-list at the upgrade and refuse (403) any other",
		run:   (*auditor).checkOriginForeign},
	{ID: "cswsh-null-origin", Severity: SevHigh, Title: "a sandboxed iframe or a file:// page can open the user's connection",
		Sends: "the baseline upgrade with Origin: null",
		Fix:   "never allow the origin \"null\"",
		run:   (*auditor).checkOriginNull},
	{ID: "cswsh-lookalike-origin", Severity: SevHigh, Title: "a look-alike domain the attacker registers can open the user's connection",
		Sends: "the baseline upgrade with Origin: the allowed origin's host followed by .evil.example, then \"evil\" glued to its parent domain (needs --origin)",
		Fix:   "compare origins exactly (scheme, host, port), not by prefix, suffix or substring",
		run:   (*auditor).checkOriginLookalike},
	{ID: "cswsh-foreign-origin-anonymous", Severity: SevMedium, Title: "any web page can connect without the user's credentials",
		Sends: "an upgrade with Origin: https://evil.example and no token or cookie",
		Fix:   "check Origin before anything else, whether or not credentials come with the upgrade",
		run:   (*auditor).checkOriginForeignAnonymous},
	{ID: "origin-missing", Severity: SevLow, Title: "a client that sends no Origin is not checked at all",
		Sends: "the baseline upgrade without an Origin header",
		Fix:   "refuse an upgrade without Origin unless non-browser clients need it, and then require credentials",
		run:   (*auditor).checkOriginMissing},
	{ID: "auth-none", Severity: SevHigh, Title: "anyone can connect without credentials and read or send data",
		Sends: "the baseline upgrade without token or cookie; if upgraded, waits for data, then sends one text frame",
		Fix:   "authenticate at the upgrade (401 without valid credentials), or close an unauthenticated connection before it gets or sends any data",
		run:   (*auditor).checkAuthNone},
	{ID: "auth-query-token", Severity: SevMedium, Title: "tokens in URLs end up in proxy logs, browser history and Referer headers",
		Sends: "an upgrade without Authorization and with ?token=T&access_token=T (needs --token)",
		Fix:   "accept tokens only in a header, a subprotocol or a cookie, never in the query string",
		run:   (*auditor).checkQueryToken},
	{ID: "rfc-unmasked", Severity: SevMedium, Title: "the server accepts unmasked client frames (RFC 6455 5.1), which cache poisoning through proxies relies on",
		Sends: "an unmasked text frame, then a ping",
		Fix:   "fail the connection (1002) on an unmasked client frame; use a conformant WebSocket library",
		run:   (*auditor).checkUnmasked},
	{ID: "rfc-reserved-bits", Severity: SevMedium, Title: "the server accepts frames with reserved bits no extension negotiated",
		Sends: "a text frame with RSV2 set, then a ping",
		Fix:   "fail the connection (1002) on reserved bits no extension negotiated",
		run:   (*auditor).checkReservedBits},
	{ID: "rfc-invalid-utf8", Severity: SevMedium, Title: "invalid UTF-8 reaches the application, and whatever parses it next",
		Sends: "a text frame holding the bytes ff fe, then a ping",
		Fix:   "validate UTF-8 of text messages and fail the connection with 1007",
		run:   (*auditor).checkInvalidUTF8},
	{ID: "rfc-control-too-long", Severity: SevMedium, Title: "the server accepts control frames over 125 bytes",
		Sends: "a ping with a 126-byte payload, then a ping",
		Fix:   "fail the connection (1002) on a control frame over 125 bytes",
		run:   (*auditor).checkControlTooLong},
	{ID: "rfc-control-fragmented", Severity: SevMedium, Title: "the server accepts fragmented control frames",
		Sends: "a ping with FIN clear, then a ping",
		Fix:   "fail the connection (1002) on a control frame without FIN",
		run:   (*auditor).checkControlFragmented},
	{ID: "rfc-length-top-bit", Severity: SevMedium, Title: "a 64-bit length with its top bit set is read as a huge or negative size",
		Sends: "a text frame header declaring 2^63+5 bytes, then 5 bytes",
		Fix:   "fail the connection (1002) when the top bit of a 64-bit length is set",
		run:   (*auditor).checkLengthTopBit},
	{ID: "rfc-absurd-length", Severity: SevMedium, Title: "the server waits for (or allocates) a frame of a terabyte",
		Sends: "a text frame header declaring 2^40 bytes, then 5 bytes",
		Fix:   "check a frame's declared length against the message limit before reading or allocating it; close 1009",
		run:   (*auditor).checkAbsurdLength},
	{ID: "limit-message-size", Severity: SevMedium, Title: "one client can make the server buffer messages as large as it likes",
		Sends: "text messages of 1 KiB, 2 KiB, 4 KiB... up to --size-cap, each followed by a ping",
		Fix:   "enforce a maximum message size (close 1009), counted after decompression",
		run:   (*auditor).checkMessageSize},
	{ID: "compression-bomb", Severity: SevHigh, Title: "a small compressed frame inflates past the message limit (decompression bomb)",
		Sends: "an upgrade offering permessage-deflate; if negotiated, a frame of a few KiB that inflates to 4 times the --size-cap",
		Fix:   "apply the message limit after decompression, or do not negotiate permessage-deflate",
		run:   (*auditor).checkCompressionBomb},
	{ID: "slow-handshake", Severity: SevMedium, Title: "a client sending headers a line at a time holds a connection open (slowloris)",
		Sends: "an upgrade request one header line every 500 ms for up to --header-wait",
		Fix:   "bound the time to read the request headers (ReadHeaderTimeout, headersTimeout) to a few seconds",
		run:   (*auditor).checkSlowHandshake},
	{ID: "leak-error-text", Severity: SevLow, Title: "error answers tell an attacker the software, its version or its code paths",
		Sends: "an upgrade with Sec-WebSocket-Version: 12, a GET of a path that does not exist, and invalid UTF-8 to read the close reason",
		Fix:   "answer errors with a short generic text; drop Server versions and X-Powered-By; never send stack traces",
		run:   (*auditor).checkLeaks},
	{ID: "http-security-headers", Severity: SevLow, Title: "an HTTP answer of the endpoint can be sniffed or framed by a browser",
		Sends: "a plain GET of the endpoint's path, without upgrade",
		Fix:   "send X-Content-Type-Options: nosniff and a Content-Security-Policy (frame-ancestors 'none') on every HTTP answer",
		run:   (*auditor).checkSecurityHeaders},
	{ID: "tls-versions", Severity: SevMedium, Title: "TLS 1.0 or 1.1 is accepted",
		Sends: "TLS handshakes offering only 1.0, then only 1.1 (wss:// only)",
		Fix:   "set the minimum TLS version to 1.2",
		run:   (*auditor).checkTLSVersions},
	{ID: "tls-ciphers", Severity: SevMedium, Title: "cipher suites without forward secrecy or with broken ciphers are accepted",
		Sends: "TLS 1.2 handshakes offering only RSA key exchange, CBC-SHA1, 3DES or RC4 suites (wss:// only)",
		Fix:   "allow only ECDHE suites with AEAD ciphers (the Go and OpenSSL defaults today)",
		run:   (*auditor).checkTLSCiphers},
	{ID: "tls-certificate", Severity: SevHigh, Title: "clients cannot tell the server from an impostor",
		Sends: "a TLS handshake verifying the certificate against the system roots or --ca, the host name and the dates (wss:// only)",
		Fix:   "serve a certificate for the host name from a trusted CA, renewed before it expires",
		run:   (*auditor).checkTLSCertificate},
	{ID: "tls-hsts", Severity: SevLow, Title: "a browser may be talked into plain http:// by a network attacker",
		Sends: "GET https://HOST/ (wss:// only), no redirect followed",
		Fix:   "send Strict-Transport-Security with a max-age of at least a year",
		run:   (*auditor).checkHSTS},
	{ID: "transport-plaintext", Severity: SevMedium, Title: "tokens and messages cross the network in the clear",
		Sends: "nothing: judges the URL (ws:// to a host that is not loopback)",
		Fix:   "serve wss:// (TLS)",
		run:   (*auditor).checkPlaintext},
}

var lastChecks = []check{
	{ID: "limit-connections-per-address", Severity: SevMedium, Title: "one address can hold as many connections as it likes",
		Sends: "baseline upgrades held open at once, until one is refused or --max-connections are open",
		Fix:   "limit connections per client address (and per user)",
		run:   (*auditor).checkConnsPerAddress},
	{ID: "limit-handshake-rate", Severity: SevMedium, Title: "one address can make handshakes (and token checks) as fast as it likes",
		Sends: "baseline upgrades one after the other, each closed at once, until one is refused or --max-connections were made",
		Fix:   "rate-limit handshakes per client address (429 with Retry-After)",
		run:   (*auditor).checkHandshakeRate},
	{ID: "idle-connection", Severity: SevLow, Title: "connections that never answer stay open for ever and use the server's memory",
		Sends:      "a baseline upgrade that then reads only, never answering pings, for up to --idle-wait",
		Fix:        "ping idle connections and close those that do not answer in time",
		background: true, run: (*auditor).checkIdle},
	{ID: "availability", Severity: SevHigh, Title: "one client's malformed input stops the server for everyone",
		Sends: "the baseline upgrade once more, after every other check",
		Fix:   "handle every protocol error on the connection it came from (an error handler per socket); never let it end the process",
		run:   (*auditor).checkAvailability},
}

// writeDryRun lists the checks and what each would send.
func writeDryRun(w io.Writer, a *auditor, list []check) error {
	if a.format == "json" {
		type row struct {
			ID       string   `json:"id"`
			Profile  string   `json:"profile,omitempty"`
			Severity Severity `json:"severity"`
			Sends    string   `json:"sends"`
		}
		rows := make([]row, 0, len(list))
		for _, c := range list {
			rows = append(rows, row{c.ID, c.Profile, c.Severity, c.Sends})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	fmt.Fprintf(w, "rampart audit %s (dry run: nothing is sent)\n", a.display)
	fmt.Fprintf(w, "only to %s; at most %d connections open at once; %s in all\n\n", a.hostPort, a.maxConns, a.duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSEVERITY\tSENDS")
	for _, c := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.ID, c.Severity, strings.ReplaceAll(c.Sends, "\t", " "))
	}
	return tw.Flush()
}
