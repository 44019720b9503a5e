package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultInterval is how often Watch polls when given no interval.
const DefaultInterval = 2 * time.Second

// ErrMinVersion is returned by New for a minimum version other than "1.2"
// or "1.3".
var ErrMinVersion = errors.New(`tlsconf: min_version must be "1.2" or "1.3"`)

// cipherSuites are the TLS 1.2 suites offered: forward-secret key exchange
// with authenticated encryption only. TLS 1.3 ignores this list.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Reloader serves a certificate that can be replaced while the server runs.
// Its methods are safe for concurrent use.
type Reloader struct {
	certFile, keyFile string
	minVersion        uint16
	logger            *slog.Logger

	cert atomic.Pointer[tls.Certificate] // the certificate new handshakes get

	mu     sync.Mutex // serializes Reload; guards loaded
	loaded fileState  // the files as they were when last read
}

// fileState is what Watch compares to notice a change.
type fileState struct {
	certMod, keyMod   int64 // modification time, Unix nanoseconds; -1 if unreadable
	certSize, keySize int64
}

// New loads certFile and keyFile (PEM) once. minVersion is "1.2" (also
// when empty) or "1.3". A nil logger discards.
func New(certFile, keyFile, minVersion string, logger *slog.Logger) (*Reloader, error) {
	v, err := parseVersion(minVersion)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, minVersion: v, logger: logger}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

func parseVersion(s string) (uint16, error) {
	switch s {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("%w, not %q", ErrMinVersion, s)
}

// TLSConfig returns a new configuration for a listener. Its GetCertificate
// always returns the current certificate, so it follows reloads.
func (r *Reloader) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   r.minVersion,
		CipherSuites: append([]uint16(nil), cipherSuites...),
		NextProtos:   []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.cert.Load(), nil
		},
	}
}

// Reload re-reads the files. On error the current certificate stays and the
// error is returned; it names the files but never includes their content.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stat() // before reading: a write during the read shows as a change
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tlsconf: load %s and %s: %w", r.certFile, r.keyFile, err)
	}
	if cert.Leaf == nil { // x509keypairleaf=0
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("tlsconf: load %s: %w", r.certFile, err)
		}
	}
	r.cert.Store(&cert)
	r.loaded = st
	return nil
}

// Watch polls the files every interval (DefaultInterval when zero or
// negative) and reloads when their modification time or size changes. It
// logs each reload's outcome and returns when ctx is done. After a failed
// reload it tries again at the files' next change.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	r.mu.Lock()
	last := r.loaded
	r.mu.Unlock()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := r.stat()
		if st == last {
			continue
		}
		last = st
		if err := r.Reload(); err != nil {
			r.logger.Warn("tls certificate reload failed, keeping the previous one",
				"cert_file", r.certFile, "key_file", r.keyFile, "error", err)
			continue
		}
		leaf := r.cert.Load().Leaf
		r.logger.Info("tls certificate reloaded", "cert_file", r.certFile,
			"serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter)
	}
}

func (r *Reloader) stat() fileState {
	var st fileState
	st.certMod, st.certSize = statFile(r.certFile)
	st.keyMod, st.keySize = statFile(r.keyFile)
	return st
}

func statFile(name string) (mod, size int64) {
	fi, err := os.Stat(name)
	if err != nil {
		return -1, -1
	}
	return fi.ModTime().UnixNano(), fi.Size()
}
