package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=..."; when
// it is not, the main module's version from the build information is used.
var version = ""

// buildVersion is what `rampart version` prints: the version, then the
// commit the binary was built from, whether the tree had changes not
// committed, the commit's time and the Go release, each when known.
type buildVersion struct {
	Version  string
	Revision string
	Modified string // "true" or "false"; empty when unknown
	Time     string // the commit's time (RFC 3339); Go records no build time
	Go       string
}

// readVersion reads the build information stamped by the Go toolchain;
// ldflagsVersion, when set, wins over the module's version.
func readVersion(ldflagsVersion string, info *debug.BuildInfo, ok bool) buildVersion {
	v := buildVersion{Version: ldflagsVersion}
	if !ok {
		if v.Version == "" {
			v.Version = "unknown"
		}
		return v
	}
	if v.Version == "" {
		v.Version = info.Main.Version // "(devel)" for a build from a checkout
	}
	v.Go = info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			v.Modified = s.Value
		case "vcs.time":
			v.Time = s.Value
		}
	}
	return v
}

func (v buildVersion) write(w io.Writer) {
	fmt.Fprintln(w, "rampart", v.Version)
	line := func(key, value string) {
		if value != "" {
			fmt.Fprintf(w, "%s: %s\n", key, value)
		}
	}
	line("revision", v.Revision)
	line("modified", v.Modified)
	line("commit time", v.Time)
	line("go", v.Go)
}

func versionCmd(args []string, stdout, stderr io.Writer) int {
	if _, exit, ok := mustLookup("version").parse(nil, args, stdout, stderr); !ok {
		return exit
	}
	info, ok := debug.ReadBuildInfo()
	readVersion(version, info, ok).write(stdout)
	return 0
}

// versionString is the version alone, for log lines and the User-Agent:
// "(devel)" (a build without version control information) becomes "devel".
func versionString() string {
	info, ok := debug.ReadBuildInfo()
	return strings.Trim(readVersion(version, info, ok).Version, "()")
}
