package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/rampart-rt/rampart/auth"
)

// devSecretName is the file, in the dev state directory, that keeps the
// secret serve --dev signs its tokens with.
const devSecretName = "dev-secret"

// devStateDir is where serve --dev keeps its secret: dir if given
// (--dev-state), else $XDG_STATE_HOME/rampart, else
// ~/.local/state/rampart.
func devStateDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	if x := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "rampart"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory to keep the dev secret in (%v): give one with --dev-state DIR", err)
	}
	return filepath.Join(home, ".local", "state", "rampart"), nil
}

// loadDevSecret returns the secret kept in dir, creating dir (0700) and
// the secret (0600, written whole under another name, then linked into
// place) on first use. It refuses a directory or a secret file that
// another user owns or that others may read or write: the secret signs
// tokens the dev server believes.
func loadDevSecret(dir string) (secret []byte, path string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("dev state directory: %w", err)
	}
	if err := checkPrivate(dir, true, os.Geteuid()); err != nil {
		return nil, "", err
	}
	path = filepath.Join(dir, devSecretName)
	secret, err = readDevSecret(path, os.Geteuid())
	if errors.Is(err, fs.ErrNotExist) {
		err = createDevSecret(dir, path)
		if err == nil || errors.Is(err, fs.ErrExist) { // or another dev server made it first
			secret, err = readDevSecret(path, os.Geteuid())
		}
	}
	return secret, path, err
}

// readDevSecret reads the secret file at path, refusing a symbolic link,
// a file another user owns or one others may read or write.
func readDevSecret(path string, uid int) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("dev secret %s is a symbolic link; remove it, and a fresh secret is made", path)
		}
		return nil, err
	}
	defer f.Close()
	if err := checkPrivate(path, false, uid); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("dev secret %s: %w", path, err)
	}
	secret := []byte(strings.TrimSpace(string(b)))
	if len(secret) < auth.MinHMACSecretBytes {
		return nil, fmt.Errorf("dev secret %s holds %d bytes, fewer than %d; remove it, and a fresh secret is made", path, len(secret), auth.MinHMACSecretBytes)
	}
	return secret, nil
}

// checkPrivate refuses path unless uid owns it and no one else may read
// or write it (a directory: no one else may write it).
func checkPrivate(path string, dir bool, uid int) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	what, kind, mask, want := "dev secret", "file", fs.FileMode(0o077), "chmod 600"
	if dir {
		what, kind, mask, want = "dev state directory", "directory", 0o022, "chmod 700"
	}
	switch {
	case dir != fi.IsDir() || (!dir && !fi.Mode().IsRegular()):
		return fmt.Errorf("%s %s is not a %s", what, path, kind)
	case !ok || int(st.Uid) != uid:
		return fmt.Errorf("%s %s belongs to another user; refusing to use it (give another directory with --dev-state)", what, path)
	case fi.Mode().Perm()&mask != 0:
		return fmt.Errorf("%s %s has mode %04o, open to other users; refusing to use it (%s %s, or remove it to start afresh)",
			what, path, fi.Mode().Perm(), want, path)
	}
	return nil
}

// createDevSecret writes a fresh secret beside path and links it into
// place, so that path never holds half a secret and an existing one is
// never replaced (fs.ErrExist then).
func createDevSecret(dir, path string) error {
	tmp, err := os.CreateTemp(dir, "."+devSecretName+".*") // 0600, O_EXCL
	if err != nil {
		return fmt.Errorf("dev secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	_, err = tmp.WriteString(base64.RawURLEncoding.EncodeToString(raw) + "\n")
	if err = errors.Join(err, tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("dev secret: %w", err)
	}
	return os.Link(tmp.Name(), path)
}
