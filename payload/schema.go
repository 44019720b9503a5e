package payload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// MaxSchemaBytes bounds each schema file Compile reads.
const MaxSchemaBytes = 1 << 20

// errRemote is the reason a $ref to anything but a local file is refused.
var errRemote = errors.New("remote reference refused: only files in the schema's directory are read")

// compileSchema compiles file with a loader confined to the file's
// directory: the draft meta-schemas are built into the validator, every
// other reference must be a file under that directory.
func compileSchema(file string) (*jsonschema.Schema, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	// Follow a symlinked schema file (Kubernetes mounts) to its real
	// directory, whose siblings are the ones deployed with it.
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(filepath.Dir(abs))
	if err != nil {
		return nil, err
	}
	defer root.Close()
	ld := &localLoader{root: root, dir: filepath.Dir(abs)}
	doc, err := ld.read(filepath.Base(abs))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(ld)
	if err := c.AddResource(abs, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(abs)
	if err != nil {
		return nil, errors.New(oneLine(err.Error()))
	}
	return s, nil
}

// localLoader is the only jsonschema.URLLoader the compiler is given. It
// reads file: URLs under dir through an os.Root, which also refuses ".."
// and symlinks that lead out of dir.
type localLoader struct {
	root *os.Root
	dir  string
}

// Load implements jsonschema.URLLoader.
func (l *localLoader) Load(rawURL string) (any, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "file" {
		return nil, errRemote
	}
	path, err := jsonschema.FileLoader{}.ToFile(rawURL)
	if err != nil {
		return nil, errRemote
	}
	rel, err := filepath.Rel(l.dir, path)
	if err != nil || !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("%s is outside %s", path, l.dir)
	}
	return l.read(rel)
}

// read parses one regular file of at most MaxSchemaBytes, keeping numbers
// exact.
func (l *localLoader) read(name string) (any, error) {
	f, err := l.root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSchemaBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSchemaBytes {
		return nil, fmt.Errorf("larger than %d bytes", MaxSchemaBytes)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("invalid JSON%s: %w", lineOf(b, err), err)
	}
	return doc, nil
}

// lineOf names the line of a JSON syntax error, or returns "".
func lineOf(b []byte, err error) string {
	var se *json.SyntaxError
	if !errors.As(err, &se) || se.Offset <= 0 || se.Offset > int64(len(b)) {
		return ""
	}
	return fmt.Sprintf(" at line %d", 1+bytes.Count(b[:se.Offset], []byte("\n")))
}

// oneLine folds the validator's indented, multi-line compile errors into
// one line, for a config check that reports one line per problem.
func oneLine(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimLeft(strings.TrimSpace(l), "- ")
	}
	return strings.Join(lines, "; ")
}
