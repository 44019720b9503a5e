// Package tlsconf decides how Rampart's listener speaks TLS: which protocol
// versions and cipher suites it accepts, and which certificate it presents,
// reloading the certificate from disk when the files change so renewals
// (ACME, cert-manager, a cron job) need no restart.
//
// Versions: TLS 1.2 (the default) or TLS 1.3 as the minimum; TLS 1.0 and 1.1
// are never accepted. For TLS 1.2 only forward-secret AEAD suites are
// offered: ECDHE with ECDSA or RSA certificates and AES-GCM or
// ChaCha20-Poly1305. CBC suites, RSA key exchange and 3DES are refused.
// TLS 1.3 suites are not configurable in Go and are all AEAD. The ALPN list
// is "http/1.1" only, since a WebSocket upgrade (RFC 6455) needs HTTP/1.1; a
// caller serving through net/http should also keep HTTP/2 off
// (http.Server.TLSNextProto set to an empty map), or net/http adds "h2".
//
// Reload re-reads the certificate and key; if they do not load as a matching
// pair the old certificate stays in use. Watch polls the files' modification
// time and size, so it needs no file-notification dependency and works
// where inotify does not (network file systems, Kubernetes secret volumes
// that swap a symlink). Connections already established keep the
// certificate they were made with; new handshakes get the new one.
//
// The package does not obtain certificates (no ACME), does not verify the
// chain it is given, does not do client-certificate authentication and never
// logs key material.
package tlsconf
