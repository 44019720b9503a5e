package tlsconf

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Keys are generated once: RSA generation is slow under -race.
var (
	keysOnce sync.Once
	ecKey    *ecdsa.PrivateKey
	rsaKey   *rsa.PrivateKey
)

func testKey(t *testing.T, rsaCert bool) crypto.Signer {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	if rsaCert {
		return rsaKey
	}
	return ecKey
}

// writeCert writes a self-signed certificate for 127.0.0.1 with the given
// serial, and its key, to certFile and keyFile, each replaced atomically.
func writeCert(t *testing.T, certFile, keyFile string, serial int64, rsaCert bool) {
	t.Helper()
	key := testKey(t, rsaCert)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "rampart test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeAtomic(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

func writeAtomic(t *testing.T, name string, data []byte) {
	t.Helper()
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

type fixture struct {
	certFile, keyFile string
	r                 *Reloader
	addr              string
	logs              *syncBuffer
}

// newFixture writes a certificate with serial 1 and serves r.TLSConfig() on
// 127.0.0.1:0 with an echo handler.
func newFixture(t *testing.T, minVersion string, rsaCert bool) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), logs: &syncBuffer{}}
	writeCert(t, f.certFile, f.keyFile, 1, rsaCert)
	r, err := New(f.certFile, f.keyFile, minVersion, slog.New(slog.NewTextHandler(f.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	f.addr = serveEcho(t, r.TLSConfig())
	return f
}

// serveEcho accepts TLS connections and echoes what they send until the
// test ends; every goroutine is waited for.
func serveEcho(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				s := tls.Server(c, cfg)
				defer s.Close()
				_, _ = io.Copy(s, s)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// dial makes a TLS connection that trusts any certificate (the tests check
// the serial themselves).
func dial(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.InsecureSkipVerify = true
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := c.(*tls.Conn)
	t.Cleanup(func() { tc.Close() })
	return tc, nil
}

func serial(c *tls.Conn) int64 {
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// echo checks that the connection still carries data both ways.
func echo(t *testing.T, c *tls.Conn, msg string) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != msg+"\n" {
		t.Fatalf("read %q, %v; want %q", line, err, msg)
	}
}

// permissive serves the same certificate with every version and suite Go
// knows, to show that a client refused by the Reloader's configuration
// could otherwise connect.
func permissive(t *testing.T, f *fixture) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var all []uint16
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		all = append(all, s.ID)
	}
	return serveEcho(t, &tls.Config{MinVersion: tls.VersionTLS10, CipherSuites: all, Certificates: []tls.Certificate{cert}})
}

func TestHandshakes(t *testing.T) {
	v12 := func(suites ...uint16) *tls.Config {
		return &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: suites}
	}
	tests := []struct {
		name    string
		min     string
		rsaCert bool
		client  *tls.Config
		ok      bool
	}{
		{"tls1.0 refused", "1.2", true, &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}, false},
		{"tls1.1 refused", "1.2", true, &tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}, false},
		{"tls1.2 cbc refused", "1.2", true, v12(tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA), false},
		{"tls1.2 cbc sha256 refused", "1.2", true, v12(tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256), false},
		{"tls1.2 ecdsa cbc refused", "1.2", false, v12(tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA), false},
		{"tls1.2 rsa kex gcm refused", "1.2", true, v12(tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384), false},
		{"tls1.2 rsa kex cbc refused", "1.2", true, v12(tls.TLS_RSA_WITH_AES_128_CBC_SHA), false},
		{"tls1.2 3des refused", "1.2", true, v12(tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA), false},
		{"tls1.2 ecdhe-rsa aes-gcm", "1.2", true, v12(tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), true},
		{"tls1.2 ecdhe-rsa aes256-gcm", "1.2", true, v12(tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384), true},
		{"tls1.2 ecdhe-rsa chacha", "1.2", true, v12(tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256), true},
		{"tls1.2 ecdhe-ecdsa aes-gcm", "1.2", false, v12(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256), true},
		{"tls1.2 ecdhe-ecdsa chacha", "1.2", false, v12(tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256), true},
		{"tls1.2 prefers aead among mixed", "1.2", true, v12(tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), true},
		{"tls1.3", "1.2", true, &tls.Config{MinVersion: tls.VersionTLS13}, true},
		{"default client", "", false, &tls.Config{}, true},
		{"min 1.3 refuses 1.2", "1.3", false, v12(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256), false},
		{"min 1.3 accepts 1.3", "1.3", false, &tls.Config{MinVersion: tls.VersionTLS13}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.min, tt.rsaCert)
			if !tt.ok {
				// The client works against a server that allows it.
				c, err := dial(t, permissive(t, f), tt.client.Clone())
				if err != nil {
					t.Fatalf("control handshake failed, the test proves nothing: %v", err)
				}
				echo(t, c, "control")
			}
			c, err := dial(t, f.addr, tt.client.Clone())
			if !tt.ok {
				if err == nil {
					t.Fatalf("handshake succeeded with %s, suite %s",
						tls.VersionName(c.ConnectionState().Version), tls.CipherSuiteName(c.ConnectionState().CipherSuite))
				}
				t.Logf("refused: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			st := c.ConnectionState()
			if st.Version == tls.VersionTLS12 && !slices.Contains(cipherSuites, st.CipherSuite) {
				t.Errorf("negotiated %s", tls.CipherSuiteName(st.CipherSuite))
			}
			if st.NegotiatedProtocol != "" && st.NegotiatedProtocol != "http/1.1" {
				t.Errorf("ALPN %q", st.NegotiatedProtocol)
			}
			echo(t, c, "hello")
		})
	}
}

func TestTLSConfig(t *testing.T) {
	f := newFixture(t, "", false)
	cfg := f.r.TLSConfig()
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x", cfg.MinVersion)
	}
	if len(cfg.NextProtos) != 1 || cfg.NextProtos[0] != "http/1.1" {
		t.Errorf("NextProtos = %q", cfg.NextProtos)
	}
	insecure := map[uint16]bool{}
	for _, s := range tls.InsecureCipherSuites() {
		insecure[s.ID] = true
	}
	for _, id := range cfg.CipherSuites {
		name := tls.CipherSuiteName(id)
		if insecure[id] || !strings.HasPrefix(name, "TLS_ECDHE_") || strings.Contains(name, "CBC") {
			t.Errorf("suite %s offered", name)
		}
	}
	cfg.CipherSuites[0] = tls.TLS_RSA_WITH_RC4_128_SHA
	if f.r.TLSConfig().CipherSuites[0] == tls.TLS_RSA_WITH_RC4_128_SHA {
		t.Error("TLSConfig shares its suite list")
	}
	c, err := dial(t, f.addr, &tls.Config{NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Errorf("ALPN with h2 offered = %q, want http/1.1", p)
	}
}

func TestReloadSwapsCertificate(t *testing.T) {
	f := newFixture(t, "1.2", false)
	old, err := dial(t, f.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	echo(t, old, "before")
	if serial(old) != 1 {
		t.Fatalf("serial %d, want 1", serial(old))
	}

	writeCert(t, f.certFile, f.keyFile, 2, false)
	if err := f.r.Reload(); err != nil {
		t.Fatal(err)
	}
	c, err := dial(t, f.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if serial(c) != 2 {
		t.Fatalf("new connection got serial %d, want 2", serial(c))
	}
	echo(t, c, "new")
	echo(t, old, "old connection still works")

	// A broken certificate keeps the previous one.
	if err := os.WriteFile(f.certFile, []byte("-----BEGIN CERTIFICATE-----\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.r.Reload(); err == nil {
		t.Fatal("Reload accepted a broken certificate")
	}
	c, err = dial(t, f.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if serial(c) != 2 {
		t.Fatalf("after a failed reload serial %d, want 2", serial(c))
	}
	echo(t, old, "old connection after failed reload")
}

func TestReloadMismatchedKeepsOld(t *testing.T) {
	f := newFixture(t, "1.2", false)
	dir := t.TempDir()
	// A new certificate for the RSA key, next to the old ECDSA key.
	writeCert(t, filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), 3, true)
	data, err := os.ReadFile(filepath.Join(dir, "c.pem"))
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, f.certFile, data)
	err = f.r.Reload()
	if err == nil {
		t.Fatal("Reload accepted a certificate that does not match the key")
	}
	if !strings.Contains(err.Error(), f.certFile) {
		t.Errorf("error %q does not name the file", err)
	}
	c, err := dial(t, f.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if serial(c) != 1 {
		t.Fatalf("serial %d, want 1", serial(c))
	}
}

func TestWatch(t *testing.T) {
	f := newFixture(t, "1.2", false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.r.Watch(ctx, 10*time.Millisecond)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	old, err := dial(t, f.addr, nil)
	if err != nil {
		t.Fatal(err)
	}

	writeCert(t, f.certFile, f.keyFile, 2, false)
	waitSerial(t, f.addr, 2)
	waitLog(t, f.logs, "tls certificate reloaded")
	echo(t, old, "old connection after the swap")

	if err := os.WriteFile(f.keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitLog(t, f.logs, "reload failed")
	waitSerial(t, f.addr, 2)

	writeCert(t, f.certFile, f.keyFile, 4, false)
	waitSerial(t, f.addr, 4)

	logs := f.logs.String()
	if strings.Contains(logs, "PRIVATE KEY") || strings.Contains(logs, "not a key") {
		t.Errorf("logs show key material: %s", logs)
	}
}

func TestWatchStopsOnCancel(t *testing.T) {
	f := newFixture(t, "1.2", false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.r.Watch(ctx, 0)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}

func waitSerial(t *testing.T, addr string, want int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := dial(t, addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := serial(c)
		c.Close()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("serial %d, want %d", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitLog(t *testing.T, b *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log never said %q: %s", want, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certFile, keyFile, 1, false)
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cert, key, min string
		wantVersion          bool // the error is ErrMinVersion
		ok                   bool
	}{
		{"default", certFile, keyFile, "", false, true},
		{"1.2", certFile, keyFile, "1.2", false, true},
		{"1.3", certFile, keyFile, "1.3", false, true},
		{"1.1", certFile, keyFile, "1.1", true, false},
		{"1.0", certFile, keyFile, "1.0", true, false},
		{"tls1.3", certFile, keyFile, "TLS1.3", true, false},
		{"1.4", certFile, keyFile, "1.4", true, false},
		{"missing cert", filepath.Join(dir, "nope.pem"), keyFile, "", false, false},
		{"missing key", certFile, filepath.Join(dir, "nope.pem"), "", false, false},
		{"garbage cert", garbage, keyFile, "", false, false},
		{"garbage key", certFile, garbage, "", false, false},
		{"swapped", keyFile, certFile, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.cert, tt.key, tt.min, nil)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if r.TLSConfig().MinVersion < tls.VersionTLS12 {
					t.Fatal("MinVersion below 1.2")
				}
				return
			}
			if err == nil {
				t.Fatal("New succeeded")
			}
			if errors.Is(err, ErrMinVersion) != tt.wantVersion {
				t.Errorf("error %v: ErrMinVersion %v, want %v", err, !tt.wantVersion, tt.wantVersion)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error shows key material: %v", err)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
