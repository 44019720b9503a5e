package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// devRun runs serve --dev with --dev-state state until it printed its
// banner, then stops it (SIGTERM) and returns the banner's lines by
// prefix ("token", "secret", "rampart").
func devRun(t *testing.T, bin, state string) map[string]string {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--dev", "--listen", "127.0.0.1:0", "--dev-state", state)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan map[string]string, 1)
	go func() {
		m := map[string]string{}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ": ")
			m[k] = v
			if k == "secret" {
				break
			}
		}
		lines <- m
		for sc.Scan() { // drain until exit
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	select {
	case m := <-lines:
		m["addr"] = strings.TrimPrefix(m["rampart"], "dev server on http://")
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no banner within 30s")
	}
	return nil
}

// A token one serve --dev printed still works after a restart: the
// secret is kept in the state directory, which only its user may enter,
// in a file only its user may read; the banner says where and how to
// rotate.
func TestDevSecretSurvivesARestart(t *testing.T) {
	bin := buildRampart(t, t.TempDir())
	state := filepath.Join(t.TempDir(), "state", "rampart")
	first := devRun(t, bin, state)
	secretPath := filepath.Join(state, devSecretName)
	if !strings.Contains(first["secret"], secretPath) || !strings.Contains(first["secret"], "delete the file to rotate") {
		t.Errorf("banner secret line %q: want the path %s and how to rotate", first["secret"], secretPath)
	}
	checkMode(t, state, 0o700)
	checkMode(t, secretPath, 0o600)
	if got := upgradeStatus(t, first["addr"], first["token"], ""); got != 101 {
		t.Fatalf("first run's own token: %d", got)
	}

	second := devRun(t, bin, state)
	if got := upgradeStatus(t, second["addr"], first["token"], ""); got != 101 {
		t.Fatalf("the first run's token on the second run: %d, want 101", got)
	}
	// Rotating: delete the file, and old tokens stop working.
	if err := os.Remove(secretPath); err != nil {
		t.Fatal(err)
	}
	third := devRun(t, bin, state)
	if got := upgradeStatus(t, third["addr"], first["token"], ""); got != 401 {
		t.Fatalf("an old token after rotation: %d, want 401", got)
	}
}

// serve --dev refuses a secret file or a state directory that others may
// read or write, and a symbolic link in place of the secret, saying what
// to do.
func TestDevRefusesAnExposedSecret(t *testing.T) {
	bin := buildRampart(t, t.TempDir())
	secret := strings.Repeat("s", 43) + "\n"
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"secret readable by others", func(t *testing.T, dir string) {
			writeMode(t, filepath.Join(dir, devSecretName), secret, 0o644)
		}, "has mode 0644, open to other users; refusing to use it (chmod 600"},
		{"secret writable by the group", func(t *testing.T, dir string) {
			writeMode(t, filepath.Join(dir, devSecretName), secret, 0o620)
		}, "has mode 0620"},
		{"directory writable by others", func(t *testing.T, dir string) {
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
		}, "dev state directory "},
		{"secret is a link", func(t *testing.T, dir string) {
			other := filepath.Join(t.TempDir(), "elsewhere")
			writeMode(t, other, secret, 0o600)
			if err := os.Symlink(other, filepath.Join(dir, devSecretName)); err != nil {
				t.Fatal(err)
			}
		}, "is a symbolic link"},
		{"secret too short", func(t *testing.T, dir string) {
			writeMode(t, filepath.Join(dir, devSecretName), "short\n", 0o600)
		}, "holds 5 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "rampart")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			tc.setup(t, dir)
			code, stderr := runBinary(t, bin, nil, "serve", "--dev", "--listen", "127.0.0.1:0", "--dev-state", dir)
			if code != 1 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, stderr, tc.want)
			}
		})
	}
}

// A secret file or a directory another user owns is refused (the check
// itself, given a uid that is not the file's owner).
func TestDevSecretOfAnotherUser(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, devSecretName)
	writeMode(t, path, strings.Repeat("s", 43), 0o600)
	other := os.Geteuid() + 1
	if _, err := readDevSecret(path, other); err == nil || !strings.Contains(err.Error(), "belongs to another user") {
		t.Errorf("a secret of another user: %v", err)
	}
	if err := checkPrivate(dir, true, other); err == nil || !strings.Contains(err.Error(), "belongs to another user") {
		t.Errorf("a directory of another user: %v", err)
	}
	if got, err := readDevSecret(path, os.Geteuid()); err != nil || len(got) != 43 {
		t.Errorf("our own secret: %q, %v", got, err)
	}
}

// Two dev servers starting at once on a fresh directory end up with one
// secret: the file is linked into place whole, never replaced.
func TestDevSecretCreatedOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rampart")
	results := make(chan string, 8)
	for range 8 {
		go func() {
			s, _, err := loadDevSecret(dir)
			if err != nil {
				results <- "error: " + err.Error()
				return
			}
			results <- string(s)
		}()
	}
	first := <-results
	for range 7 {
		if got := <-results; got != first || strings.HasPrefix(got, "error") {
			t.Fatalf("concurrent starts got %q and %q", first, got)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func writeMode(t *testing.T, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
