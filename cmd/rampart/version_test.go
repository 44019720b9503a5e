package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestReadVersion(t *testing.T) {
	info := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/rampart-rt/rampart", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"},
			{Key: "vcs.time", Value: "2026-12-06T18:39:22Z"},
			{Key: "vcs.modified", Value: "false"},
		},
	}
	cases := []struct {
		name    string
		ldflags string
		info    *debug.BuildInfo
		ok      bool
		want    string
	}{
		{"module version", "", info, true,
			"rampart v1.4.0\nrevision: 0123abcd\nmodified: false\ncommit time: 2026-12-06T18:39:22Z\ngo: go1.26.8\n"},
		{"ldflags win", "v9.9.9", info, true,
			"rampart v9.9.9\nrevision: 0123abcd\nmodified: false\ncommit time: 2026-12-06T18:39:22Z\ngo: go1.26.8\n"},
		{"no version control", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, true,
			"rampart (devel)\ngo: go1.26.8\n"},
		{"no build information", "", nil, false, "rampart unknown\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			readVersion(tc.ldflags, tc.info, tc.ok).write(&out)
			if out.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", out.String(), tc.want)
			}
		})
	}
}

// A binary built from a git checkout names the checkout's HEAD, and a
// version given with -ldflags -X main.version is printed first.
func TestVersionCommandNamesTheRevision(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Fatal("git is not installed: the version test builds from a checkout")
	}
	// A clone of HEAD: the go command stamps the revision of a plain
	// checkout, which this tree may not be (a git worktree's .git is a
	// file, and there it stamps none).
	src := filepath.Join(t.TempDir(), "src")
	if out, err := exec.Command(git, "clone", "--quiet", "--no-hardlinks", "../..", src).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	head, err := exec.Command(git, "-C", src, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "rampart")
	build := exec.Command("go", "build", "-buildvcs=true", "-ldflags", "-X main.version=v9.9.9", "-o", bin, "./cmd/rampart")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(bin, arg).Output()
		if err != nil {
			t.Fatalf("rampart %s: %v", arg, err)
		}
		lines := strings.Split(string(out), "\n")
		if lines[0] != "rampart v9.9.9" {
			t.Errorf("rampart %s: first line %q, want %q", arg, lines[0], "rampart v9.9.9")
		}
		for _, want := range []string{"revision: " + strings.TrimSpace(string(head)), "modified: ", "commit time: ", "go: go1."} {
			if !strings.Contains(string(out), "\n"+want) {
				t.Errorf("rampart %s: no line %q in\n%s", arg, want, out)
			}
		}
	}
}
