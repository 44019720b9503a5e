package main

import (
	"context"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/config"
	"github.com/rampart-rt/rampart/internal/tlsconf"
)

// reloadInterval is how often the watcher checks the configuration file.
var reloadInterval = 2 * time.Second

// reloader re-reads the configuration file on SIGHUP or when it changes on
// disk, and swaps it into the running server. A file that does not
// validate is logged with every problem and the old configuration stays.
type reloader struct {
	path  string
	flags []config.Flag // the command line's overrides, applied to every reading
	file  *config.File  // as the process started; what needs a restart is compared with it
	srv   *rampart.Server
	certs *tlsconf.Reloader
	addr  string
	log   *slog.Logger

	mu   sync.Mutex // serialises reloads
	seen fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stamp(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi.ModTime(), fi.Size()}
}

func (r *reloader) reload(why string) {
	if r.path == "" {
		r.log.Info("reload ignored: dev mode has no file", "event", "config_reload_failed")
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = stamp(r.path)
	if r.certs != nil {
		if err := r.certs.Reload(); err != nil {
			r.log.Error("certificate reload failed; the old one stays", "event", "config_reload_failed", "error", err.Error())
		}
	}
	f, err := config.Load(r.path, os.Environ(), r.flags...)
	if err == nil {
		err = r.srv.Reload(serverConfig(f, r.addr, r.log))
	}
	if err != nil {
		r.log.Error("configuration refused; the old one stays", "event", "config_reload_failed", "trigger", why, "error", err.Error())
		return
	}
	r.log.Info("configuration file applied", "event", "config_file_reloaded", "trigger", why)
	if keys := restartOnly(r.file, f); len(keys) > 0 {
		r.log.Warn("some changes need a restart and were not applied", "event", "config_restart_needed", "keys", keys)
	}
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
	return keys
}

// watch polls the file every interval and reloads when it changed.
func (r *reloader) watch(ctx context.Context, every time.Duration) {
	r.mu.Lock()
	r.seen = stamp(r.path)
	r.mu.Unlock()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.mu.Lock()
			changed := stamp(r.path) != r.seen
			r.mu.Unlock()
			if changed {
				r.reload("file changed")
			}
		}
	}
}
