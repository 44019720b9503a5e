package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/config"
	"github.com/rampart-rt/rampart/internal/tlsconf"
)

// reloadInterval is how often the watcher reads the configuration file.
var reloadInterval = 2 * time.Second

// reloader re-reads the configuration file on SIGHUP or when it changes on
// disk, and swaps it into the running server. A file that does not
// validate is logged with every problem and the old configuration stays.
//
// The watcher applies only a file that is complete: the same content at two
// polls in a row, so a file being written (or truncated, then rewritten) is
// never read half way. It refuses a file that removes every channel rule
// while some are in force (an emptied file is a valid configuration that
// revokes every subscription); SIGHUP applies it, with an error line.
type reloader struct {
	path  string
	flags []config.Flag // the command line's overrides, applied to every reading
	file  *config.File  // as the process started; what needs a restart is compared with it
	srv   *rampart.Server
	certs *tlsconf.Reloader
	addr  string
	log   *slog.Logger

	mu      sync.Mutex   // serialises reloads; guards the fields below
	current *config.File // the configuration in force (file when nil)
	tried   content      // the content last reloaded, applied or refused: not reloaded again
	pending content      // the content the last poll saw, reloaded when the next poll sees it too
}

// content is one reading of the configuration file: its hash, or why it
// could not be read.
type content struct {
	sum [sha256.Size]byte
	err string
}

func readContent(path string) ([]byte, content) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, content{err: err.Error()}
	}
	return src, content{sum: sha256.Sum256(src)}
}

// reload reads the file now (SIGHUP): an operator's explicit request, so
// a file without channel rules is applied too, with an error line.
func (r *reloader) reload(why string) {
	if r.path == "" {
		r.log.Info("reload ignored: dev mode has no file", "event", "config_reload_failed")
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	src, c := readContent(r.path)
	r.tried, r.pending = c, c
	r.apply(src, c, why, true)
}

// poll is one tick of the watcher: it reloads content that changed since
// the last reload and stayed the same since the previous poll.
func (r *reloader) poll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	src, c := readContent(r.path)
	switch {
	case c == r.tried:
		r.pending = c
	case c != r.pending:
		r.pending = c // still being written, maybe: wait for the next poll
	default:
		r.tried = c
		r.apply(src, c, "file changed", false)
	}
}

// apply checks the file's content and swaps it in. explicit allows a file
// that removes every channel rule.
func (r *reloader) apply(src []byte, c content, why string, explicit bool) {
	if r.certs != nil {
		if err := r.certs.Reload(); err != nil {
			r.log.Error("certificate reload failed; the old one stays", "event", "config_reload_failed", "error", err.Error())
		}
	}
	if r.current == nil {
		r.current = r.file
	}
	f, err := r.load(src, c)
	if err != nil {
		r.log.Error("configuration refused; the old one stays", "event", "config_reload_failed", "trigger", why, "error", err.Error())
		return
	}
	if n := len(r.current.Channels); n > 0 && len(f.Channels) == 0 {
		if !explicit {
			r.log.Error("configuration refused: it removes every channel rule, which would revoke every subscription; "+
				"the old one stays (send SIGHUP to apply it anyway)", "event", "config_reload_refused", "trigger", why, "channels", n)
			return
		}
		r.log.Error("every channel rule removed on request: every subscription is revoked",
			"event", "config_channels_emptied", "trigger", why, "channels", n)
	}
	if err := r.srv.Reload(serverConfig(f, r.addr, r.log)); err != nil {
		r.log.Error("configuration refused; the old one stays", "event", "config_reload_failed", "trigger", why, "error", err.Error())
		return
	}
	r.current = f
	r.log.Info("configuration file applied", "event", "config_file_reloaded", "trigger", why)
	if keys := restartOnly(r.file, f); len(keys) > 0 {
		r.log.Warn("some changes need a restart and were not applied", "event", "config_restart_needed", "keys", keys)
	}
}

// load parses and checks a reading of the file, with the environment and
// the flags, as at start.
func (r *reloader) load(src []byte, c content) (*config.File, error) {
	if c.err != "" {
		return nil, errors.New(c.err)
	}
	f, err := config.ParseFile(r.path, src, os.Environ(), r.flags...)
	if err != nil {
		return nil, err
	}
	return f, r.checkRunning(f)
}

// checkRunning refuses what the file allows only for listeners other than
// the running ones: /metrics left without a key on the public listener the
// process still has (the listen keys need a restart).
func (r *reloader) checkRunning(f *config.File) error {
	running := *f
	running.Listen, running.Metrics.Listen = r.file.Listen, r.file.Metrics.Listen
	if running.PublicMetrics() && !f.Metrics.InsecurePublic {
		return fmt.Errorf("%s: metrics: /metrics would answer anyone on the running non-loopback listener %s: "+
			"keep a key in metrics.keys_env or metrics.keys_file, or set metrics.insecure_public: true", r.path, r.file.Listen)
	}
	return nil
}

// restartOnly lists the keys that differ between old and new but only
// take effect at start.
func restartOnly(old, new *config.File) []string {
	if old == nil {
		return nil
	}
	var keys []string
	diff := func(key string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			keys = append(keys, key)
		}
	}
	diff("listen", old.Listen, new.Listen)
	diff("path", old.Path, new.Path)
	diff("handshake_timeout", old.HandshakeTimeout, new.HandshakeTimeout)
	diff("tls", old.TLS, new.TLS)
	diff("metrics.listen", old.Metrics.Listen, new.Metrics.Listen)
	diff("log", old.Log, new.Log)
	diff("broker", old.Broker, new.Broker)
	diff("api.admin_only", old.API.AdminOnly, new.API.AdminOnly)
	diff("io_uring", old.IOURing, new.IOURing)
	diff("console.enabled", old.Console.Enabled, new.Console.Enabled)
	return keys
}

// watch polls the file every interval and reloads it when it changed and
// is complete (see reloader).
func (r *reloader) watch(ctx context.Context, every time.Duration) {
	r.watchStart()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.poll()
		}
	}
}

// watchStart takes the file as it is now for the content last reloaded.
func (r *reloader) watchStart() {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, r.tried = readContent(r.path)
	r.pending = r.tried
}
