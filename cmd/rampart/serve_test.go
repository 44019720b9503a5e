package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/auth"
	"github.com/rampart-rt/rampart/internal/devtoken"
)

const serveTestSecret = "serve-test-secret-0123456789abcdef-0123456789"

// writeConfig writes a configuration file and returns its path.
func writeConfig(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// replaceFile swaps a file's content atomically (write, then rename), as a
// deployment tool would.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestCheckConfig(t *testing.T) {
	t.Setenv("RAMPART_JWT_SECRET", serveTestSecret)
	dir := t.TempDir()
	cases := []struct {
		name string
		body string
		code int
		want string // the first line of stderr: file:line: key: reason
	}{
		{"good", "listen: 127.0.0.1:8080\nlimits:\n  burst: 20\n", 0, ""},
		{"plaintext allowed on purpose", "listen: 0.0.0.0:8080\ninsecure_allow_plaintext: true\nmetrics: {listen: \"127.0.0.1:9090\"}\n", 0, ""},
		{"metrics open on a public listener", "listen: 0.0.0.0:8080\ninsecure_allow_plaintext: true\n", 1, ":1: listen: /metrics would answer anyone on the non-loopback address 0.0.0.0:8080"},
		{"wrong type", "limits:\n  write_timeout: banana\n", 1, `:2: limits.write_timeout: "banana" is not a duration`},
		{"unknown key", "listen: 127.0.0.1:8080\nlimits:\n  burst: 20\n  max_conections: 5\n", 1, ":4: limits.max_conections: unknown key"},
		{"unknown top-level key", "# a comment\nlisten: 127.0.0.1:8080\nlimitz: {}\n", 1, ":3: limitz: unknown key"},
		{"out of range", "listen: 127.0.0.1:8080\nlimits:\n  max_message_bytes: 64\n", 1, ":3: limits.max_message_bytes: must be between 128 and"},
		{"zero limit", "limits:\n  max_violations: 0\n", 1, ":2: limits.max_violations: must be positive"},
		{"plaintext on 0.0.0.0", "\nlisten: 0.0.0.0:8080\n", 1, ":2: listen: plain ws:// on a non-loopback address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml", tc.body)
			var stdout, stderr bytes.Buffer
			code := run([]string{"check-config", path}, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tc.code, stdout.String(), stderr.String())
			}
			if tc.code == 0 {
				if stdout.String() != path+": ok\n" || stderr.Len() != 0 {
					t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
				}
				return
			}
			first, _, _ := strings.Cut(stderr.String(), "\n")
			if !strings.HasPrefix(first, path+tc.want) {
				t.Fatalf("stderr %q, want a first line starting %q", stderr.String(), path+tc.want)
			}
		})
	}
	t.Run("every problem at once", func(t *testing.T) {
		path := writeConfig(t, dir, "many.yaml", "listen: 0.0.0.0:8080\nlimits:\n  max_message_bytes: 64\n  burst: -1\n")
		var stdout, stderr bytes.Buffer
		if code := run([]string{"check-config", path}, &stdout, &stderr); code != 1 {
			t.Fatalf("exit %d", code)
		}
		for _, want := range []string{
			path + ":1: listen: plain ws:// on a non-loopback address",
			path + ":3: limits.max_message_bytes: must be between 128 and",
			path + ":4: limits.burst: must be between 1 and",
		} {
			if !strings.Contains(stderr.String(), want) {
				t.Fatalf("stderr %q lacks %q", stderr.String(), want)
			}
		}
	})
	t.Run("no file", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"check-config", filepath.Join(dir, "absent.yaml")}, &stdout, &stderr); code != 1 {
			t.Fatalf("exit %d", code)
		}
	})
}

func TestServeRefusesABadFile(t *testing.T) {
	t.Setenv("RAMPART_JWT_SECRET", serveTestSecret)
	path := writeConfig(t, t.TempDir(), "bad.yaml", "listen: 127.0.0.1:0\nlimits:\n  burst: -3\n")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"serve", "--config", path}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", code, stderr.String())
	}
	if want := path + ":3: limits.burst: must be between 1 and"; !strings.HasPrefix(stderr.String(), want) {
		t.Fatalf("stderr %q, want it to start %q", stderr.String(), want)
	}
}

func TestTokenCommand(t *testing.T) {
	t.Setenv("RAMPART_JWT_SECRET", serveTestSecret)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"token", "--sub", "alice", "--roles", "user, admin", "--ttl", "10m", "--csrf", "c5rf"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	tok := strings.TrimSpace(stdout.String())
	v, err := auth.New(t.Context(), auth.Config{Algorithms: []string{"HS256"}, HMACSecret: []byte(serveTestSecret)})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	c, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("the minted token does not verify: %v", err)
	}
	if ttl := time.Until(c.ExpiresAt); c.Subject != "alice" || strings.Join(c.Roles, ",") != "user,admin" || c.CSRF != "c5rf" || ttl < 9*time.Minute || ttl > 10*time.Minute+time.Second {
		t.Fatalf("claims %+v (ttl %s)", c, ttl)
	}
	other, err := auth.New(t.Context(), auth.Config{Algorithms: []string{"HS256"}, HMACSecret: []byte("another-secret-0123456789abcdef-0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Verify(t.Context(), tok); err == nil {
		t.Fatal("the token verifies with another secret")
	}
	for _, args := range [][]string{{"token"}, {"token", "--sub", "a", "--ttl", "-1s"}} {
		stdout.Reset()
		if code := run(args, &stdout, io.Discard); code != 1 || stdout.Len() != 0 {
			t.Fatalf("%q: exit %d, stdout %q", args, code, stdout.String())
		}
	}
	t.Setenv("RAMPART_JWT_SECRET", "short")
	if code := run([]string{"token", "--sub", "a"}, io.Discard, io.Discard); code != 1 {
		t.Fatalf("a short secret: exit %d", code)
	}
}

// pki is a test CA and the files of the server certificate it signs.
type pki struct {
	ca       *x509.Certificate
	caKey    *ecdsa.PrivateKey
	pool     *x509.CertPool
	certFile string
	keyFile  string
}

func newPKI(t *testing.T, dir string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rampart test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &pki{ca: ca, caKey: key, pool: pool, certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem")}
}

// issue writes a fresh key and a certificate for 127.0.0.1 with serial,
// key first, each file replaced atomically.
func (p *pki) issue(t *testing.T, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, p.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	replaceFile(t, p.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// buildRampart builds the command into dir.
func buildRampart(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the binary: %v", err)
	}
	bin := filepath.Join(dir, "rampart")
	out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is a running rampart serve; its stderr (JSON log lines) is kept.
type process struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{} // closed when stderr is drained
	exit chan error
}

func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	return startProcessEnv(t, bin, nil, args...)
}

// startProcessEnv is startProcess with env added to the environment.
func startProcessEnv(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), done: make(chan struct{}), exit: make(chan error, 1)}
	p.cmd.Env = append(append(os.Environ(), "RAMPART_JWT_SECRET="+serveTestSecret), env...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.Write(sc.Bytes())
			p.logs.WriteByte('\n')
			p.mu.Unlock()
		}
	}()
	go func() {
		<-p.done
		p.exit <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
		}
	})
	return p
}

func (p *process) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// event polls the log for a line with event name (and every field in
// want), up to timeout.
func (p *process) event(t *testing.T, name string, want map[string]string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for line := range strings.Lines(p.text()) {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("a log line is not JSON: %q", line)
			}
			if m["event"] != name {
				continue
			}
			ok := true
			for k, v := range want {
				ok = ok && fmt.Sprint(m[k]) == v
			}
			if ok {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event %v within %s; log:\n%s", name, want, timeout, p.text())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wssClient is a minimal WebSocket client, over TLS or not.
type wssClient struct {
	t      *testing.T
	tc     net.Conn
	br     *bufio.Reader
	serial *big.Int // of the server's certificate, over TLS
}

func tlsDial(addr string, pool *x509.CertPool) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
}

func dialWSS(t *testing.T, addr string, pool *x509.CertPool, tok string) *wssClient {
	t.Helper()
	tc, err := tlsDial(addr, pool)
	if err != nil {
		t.Fatalf("tls dial: %v", err)
	}
	t.Cleanup(func() { tc.Close() })
	c := handshakeWS(t, tc, addr, tok)
	c.serial = tc.ConnectionState().PeerCertificates[0].SerialNumber
	return c
}

// handshakeWS upgrades tc to a WebSocket with tok and reads the welcome.
func handshakeWS(t *testing.T, tc net.Conn, addr, tok string) *wssClient {
	t.Helper()
	var kb [16]byte
	_, _ = rand.Read(kb[:])
	key := base64.StdEncoding.EncodeToString(kb[:])
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: rampart.v1\r\n" +
		"Authorization: Bearer " + tok + "\r\n\r\n"
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(tc, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(tc)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Fatalf("handshake answer %d %v", resp.StatusCode, resp.Header)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != "" {
		t.Logf("101 carries HSTS %q", hsts)
	}
	_ = tc.SetDeadline(time.Time{})
	c := &wssClient{t: t, tc: tc, br: br}
	if w := c.read(); !strings.HasPrefix(w, `{"push":"welcome"`) {
		t.Fatalf("first frame %q", w)
	}
	return c
}

func (c *wssClient) write(op byte, p []byte) error {
	out := []byte{0x80 | op}
	switch n := len(p); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	default:
		out = append(out, 0x80|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	out = append(out, mask[:]...)
	for i, b := range p {
		out = append(out, b^mask[i%4])
	}
	_ = c.tc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.tc.Write(out)
	return err
}

// wsClosed carries the close code the server sent.
type wsClosed struct{ code uint16 }

func (e wsClosed) Error() string { return fmt.Sprintf("closed with %d", e.code) }

// next reads the next text frame, answering pings; a close frame answers
// with a close and returns wsClosed.
func (c *wssClient) next() (string, error) {
	_ = c.tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return "", err
		}
		n := int(h[1] & 0x7F)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(c.br, b[:]); err != nil {
				return "", err
			}
			n = int(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(c.br, b[:]); err != nil {
				return "", err
			}
			n = int(binary.BigEndian.Uint64(b[:]))
		}
		if n > 1<<20 {
			return "", fmt.Errorf("frame of %d bytes", n)
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(c.br, p); err != nil {
			return "", err
		}
		switch h[0] & 0x0F {
		case 0x1:
			return string(p), nil
		case 0x9:
			_ = c.write(0xA, p)
		case 0x8:
			code := uint16(1005)
			if len(p) >= 2 {
				code = binary.BigEndian.Uint16(p)
			}
			_ = c.write(0x8, p[:min(len(p), 2)])
			return "", wsClosed{code}
		}
	}
}

func (c *wssClient) read() string {
	c.t.Helper()
	s, err := c.next()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return s
}

// ping sends a ping command and checks the reply.
func (c *wssClient) ping(id int) {
	c.t.Helper()
	if err := c.write(0x1, fmt.Appendf(nil, `{"id":%d,"action":"ping"}`, id)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
	if got, want := c.read(), fmt.Sprintf(`{"id":%d,"result":{}}`, id); got != want {
		c.t.Fatalf("ping reply %q, want %q", got, want)
	}
}

// A real rampart serve over TLS: certificate rotation on disk without
// dropping connections, a refused reload that keeps the old configuration,
// and a graceful SIGTERM.
func TestServeProcess(t *testing.T) {
	dir := t.TempDir()
	bin := buildRampart(t, dir)
	certs := newPKI(t, dir)
	certs.issue(t, 1001)
	cfgPath := writeConfig(t, dir, "rampart.yaml", fmt.Sprintf(`listen: "127.0.0.1:0"
tls: { cert_file: %q, key_file: %q }
origins: { allow_missing: true }
log: { format: json, level: info }
limits: { shutdown_spread: 10ms }
channels:
  - pattern: "chat:*"
    subscribe: ["*"]
    publish: ["*"]
`, certs.certFile, certs.keyFile))
	p := startProcess(t, bin, "serve", "--config", cfgPath)
	started := p.event(t, "server_started", map[string]string{"scheme": "https"}, 30*time.Second)
	addr, _ := started["addr"].(string)
	tok, err := devtoken.Mint([]byte(serveTestSecret), devtoken.Claims{Sub: "alice", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	old := dialWSS(t, addr, certs.pool, tok)
	if old.serial.Int64() != 1001 {
		t.Fatalf("serial %s, want 1001", old.serial)
	}
	old.ping(1)

	// Rotate the certificate on disk: new connections get it, the open
	// one goes on.
	certs.issue(t, 1002)
	deadline := time.Now().Add(10 * time.Second)
	for {
		tc, err := tlsDial(addr, certs.pool)
		if err == nil {
			serial := tc.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
			tc.Close()
			if serial == 1002 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("new connections still see the old certificate after 10s (last error %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	old.ping(2)
	if c := dialWSS(t, addr, certs.pool, tok); c.serial.Int64() != 1002 {
		t.Fatalf("new WebSocket serial %s", c.serial)
	} else {
		c.ping(1)
		_ = c.tc.Close()
	}

	// A broken configuration file and SIGHUP: refused, the old one stays.
	replaceFile(t, cfgPath, []byte("listen: \"127.0.0.1:0\"\nlimits:\n  burst: -1\nno_such_key: 1\n"))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.event(t, "config_reload_failed", nil, 10*time.Second)
	if c := dialWSS(t, addr, certs.pool, tok); c.serial.Int64() != 1002 {
		t.Fatalf("serial %s after the failed reload", c.serial)
	} else {
		c.ping(1)
		_ = c.tc.Close()
	}
	old.ping(3)

	// SIGTERM: the open connection is closed with 1001, the process exits 0.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := old.next()
		var ce wsClosed
		if errors.As(err, &ce) {
			if ce.code != 1001 {
				t.Fatalf("closed with %d, want 1001", ce.code)
			}
			break
		}
		if err != nil {
			t.Fatalf("want close 1001, got %v", err)
		}
	}
	select {
	case err := <-p.exit:
		if err != nil {
			t.Fatalf("exit: %v; log:\n%s", err, p.text())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15s after SIGTERM; log:\n%s", p.text())
	}
	if !strings.Contains(p.text(), `"server_stopped"`) {
		t.Fatalf("no server_stopped event:\n%s", p.text())
	}
}
