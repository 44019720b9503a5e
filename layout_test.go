package rampart

import (
	"go/parser"
	gotoken "go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/rampart-rt/rampart"

// moduleImports returns, for each package directory of the module, the
// imports of its non-test files.
func moduleImports(t *testing.T) map[string][]string {
	t.Helper()
	out := make(map[string][]string)
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (path == "third_party" || path == "js" || strings.HasPrefix(d.Name(), ".") && path != ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(gotoken.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		pkg := module
		if dir := filepath.ToSlash(filepath.Dir(path)); dir != "." {
			pkg += "/" + dir
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !slices.Contains(out[pkg], p) {
				out[pkg] = append(out[pkg], p)
			}
		}
		if _, ok := out[pkg]; !ok {
			out[pkg] = nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// deps returns every import reachable from pkg through the module's own
// packages.
func deps(graph map[string][]string, pkg string) map[string]bool {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		for _, imp := range graph[p] {
			if !seen[imp] {
				seen[imp] = true
				walk(imp)
			}
		}
	}
	walk(pkg)
	return seen
}

// The layering docs/architecture.md draws holds: the file loader does not
// reach the server, the hub and the console know no WebSocket library, the
// console knows no broker, and the leaf packages import nothing of the
// module.
func TestPackageLayout(t *testing.T) {
	graph := moduleImports(t)
	if len(graph) < 20 {
		t.Fatalf("found only %d packages: is the test run from the module's root?", len(graph))
	}
	if deps(graph, module+"/config")[module] {
		t.Error("config imports the root package")
	}
	for _, pkg := range []string{"internal/hub", "internal/console"} {
		for imp := range deps(graph, module+"/"+pkg) {
			if strings.Contains(imp, "gws") || strings.Contains(imp, "websocket") {
				t.Errorf("%s reaches the WebSocket library %s", pkg, imp)
			}
		}
	}
	// The console reaches the server only through its Server interface,
	// and imports no broker and no hub: what it publishes and what it
	// counts go through the server.
	for _, imp := range graph[module+"/internal/console"] {
		if strings.HasPrefix(imp, module+"/broker") || imp == module+"/internal/hub" {
			t.Errorf("internal/console reaches %s", imp)
		}
	}
	for _, leaf := range []string{"protocol", "auth", "policy", "payload", "broker", "limits"} {
		for _, imp := range graph[module+"/"+leaf] {
			if strings.HasPrefix(imp, module) {
				t.Errorf("%s imports %s: it is a leaf", leaf, imp)
			}
		}
	}
	for pkg := range graph {
		if pkg == module || strings.HasPrefix(pkg, module+"/cmd/") || strings.HasPrefix(pkg, module+"/examples/") {
			continue
		}
		if slices.Contains(graph[pkg], module) {
			t.Errorf("%s imports the root package: only the command and the examples may", pkg)
		}
	}
}
