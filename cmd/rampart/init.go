package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rampart-rt/rampart/config"
)

// initOptions are init's flags.
type initOptions struct {
	out, secretFile string
	force           bool
}

func initFlags() (*flag.FlagSet, *initOptions) {
	o := new(initOptions)
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "rampart.yaml", "configuration file to write")
	fs.StringVar(&o.secretFile, "secret-file", "rampart.secret", "file to write a fresh JWT secret to (mode 0600)")
	fs.BoolVar(&o.force, "force", false, "overwrite files that exist")
	return fs, o
}

// initCmd is `rampart init`: a commented configuration with every key at
// its default, and a fresh HMAC secret in a file of its own that the
// configuration names in auth.hmac_secret_file.
func initCmd(args []string, stdout, stderr io.Writer) int {
	fs, o := initFlags()
	if _, exit, ok := mustLookup("init").parse(fs, args, stdout, stderr); !ok {
		return exit
	}
	if err := writeInit(o); err != nil {
		fmt.Fprintln(stderr, "rampart init:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s (the configuration) and %s (the JWT secret, mode 0600)\n", o.out, o.secretFile)
	fmt.Fprintf(stdout, "check it:     rampart check-config %s\n", o.out)
	fmt.Fprintf(stdout, "run it:       rampart serve --config %s\n", o.out)
	fmt.Fprintf(stdout, "mint a token: rampart token --secret-file %s --sub alice\n", o.secretFile)
	return 0
}

// writeInit writes the secret, then the configuration; if the second
// fails, a secret it created is removed.
func writeInit(o *initOptions) error {
	cfgAbs, err1 := filepath.Abs(o.out)
	secAbs, err2 := filepath.Abs(o.secretFile)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if cfgAbs == secAbs {
		return errors.New("--out and --secret-file name the same file")
	}
	ref, err := filepath.Rel(filepath.Dir(cfgAbs), secAbs)
	if err != nil || filepath.IsAbs(o.secretFile) {
		ref = secAbs
	}
	var cfg bytes.Buffer
	if err := config.Template(&cfg, ref); err != nil {
		return err
	}
	if !o.force {
		for _, p := range []string{o.out, o.secretFile} {
			if _, err := os.Lstat(p); err == nil {
				return fmt.Errorf("%s exists; not overwriting it (--force overwrites)", p)
			}
		}
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	if err := writeNew(o.secretFile, []byte(base64.RawURLEncoding.EncodeToString(secret)+"\n"), 0o600, o.force); err != nil {
		return err
	}
	if err := writeNew(o.out, cfg.Bytes(), 0o644, o.force); err != nil {
		if !o.force { // the secret is new and nothing names it; with --force it replaced one
			_ = os.Remove(o.secretFile)
		}
		return err
	}
	return nil
}

// writeNew writes data to a new file at path with mode perm: created with
// O_EXCL, so that an existing file (or a symbolic link planted there) is
// never written through. With force, the file is written beside path
// (O_EXCL too) and renamed over it, so that path is always whole.
func writeNew(path string, data []byte, perm fs.FileMode, force bool) error {
	var f *os.File
	var err error
	if force {
		f, err = os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	} else {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists; not overwriting it (--force overwrites)", path)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	err = errors.Join(err, f.Chmod(perm), f.Sync(), f.Close())
	if err == nil && force {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	return nil
}
