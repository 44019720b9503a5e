package payload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// MaxDepth bounds the nesting of objects and arrays that Process walks.
// The protocol already refuses more than 32 levels; this is a backstop.
const MaxDepth = 64

// ErrInvalidJSON is returned (wrapped) by Process for data that is not
// exactly one valid JSON value. The protocol layer refuses such data before
// it gets here, so this means a caller's bug, not a client's mistake.
var ErrInvalidJSON = errors.New("payload: invalid JSON")

// Options say what a Processor checks and does. The zero value does
// nothing: any JSON is accepted unchanged.
type Options struct {
	// SchemaFile is a JSON Schema file (draft 2020-12 unless its $schema
	// says otherwise), read and compiled once by Compile. Empty: no schema.
	SchemaFile string
	// SanitizeHTML HTML-escapes & < > " ' in every string and member name.
	// Default false.
	SanitizeHTML bool
}

// Processor checks and transforms the data of one channel rule. It is
// immutable and safe for concurrent use. A nil *Processor accepts any JSON
// unchanged.
type Processor struct {
	schema   *jsonschema.Schema // nil: no schema
	sanitize bool
}

// Compile reads and compiles the schema, if any. A missing, unreadable or
// broken schema, or one whose $ref leaves the schema's directory, returns
// an error naming the file and the reason.
func Compile(opts Options) (*Processor, error) {
	p := &Processor{sanitize: opts.SanitizeHTML}
	if opts.SchemaFile != "" {
		s, err := compileSchema(opts.SchemaFile)
		if err != nil {
			return nil, fmt.Errorf("payload: schema %s: %w", opts.SchemaFile, err)
		}
		p.schema = s
	}
	return p, nil
}

// Process checks data, one syntactically valid JSON value, against the
// schema and, when sanitizing, returns a new compact JSON value with every
// string HTML-escaped; otherwise it returns data itself. The schema sees
// the data as sent. A schema failure or nesting deeper than MaxDepth
// returns an *Error; data that is not one JSON value, ErrInvalidJSON.
func (p *Processor) Process(data []byte) ([]byte, error) {
	if p == nil || (p.schema == nil && !p.sanitize) {
		return data, nil
	}
	var out bytes.Buffer
	w := getWalker(data, p.schema != nil, p.sanitize, &out)
	defer putWalker(w)
	v, err := w.walk()
	if err != nil {
		return nil, err
	}
	if p.schema != nil {
		if err := p.schema.Validate(v); err != nil {
			return nil, fromValidation(err)
		}
	}
	if !p.sanitize {
		return data, nil
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// walker reads one JSON value token by token. It builds the value for the
// validator when build is set (objects as map[string]any, arrays as []any,
// numbers as json.Number so their text is exact), and writes an escaped copy
// to enc when enc is not nil.
type walker struct {
	dec     jsontext.Decoder
	enc     *jsontext.Encoder // &encoder when sanitizing, else nil
	encoder jsontext.Encoder
	build   bool
}

// walkers keep decoder and encoder state (buffers, name sets) between calls.
var walkers = sync.Pool{New: func() any { return new(walker) }}

func getWalker(data []byte, build, sanitize bool, out *bytes.Buffer) *walker {
	w := walkers.Get().(*walker)
	w.build = build
	w.dec.Reset(bytes.NewBuffer(data)) // reads data in place, never writes to it
	w.enc = nil
	if sanitize {
		out.Grow(len(data) + len(data)/8)
		// The decoder refuses duplicate names, and escaping is injective, so
		// the encoder need not track names again.
		w.encoder.Reset(out, jsontext.AllowDuplicateNames(true))
		w.enc = &w.encoder
	}
	return w
}

// putWalker drops the references to the caller's data and output before
// pooling w.
func putWalker(w *walker) {
	w.dec.Reset(eofReader{})
	w.encoder.Reset(io.Discard)
	w.enc = nil
	walkers.Put(w)
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func (w *walker) walk() (any, error) {
	v, err := w.value(0)
	if err != nil {
		return nil, w.wrap(err)
	}
	if _, err := w.dec.ReadToken(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the value", ErrInvalidJSON)
	}
	return v, nil
}

func (w *walker) wrap(err error) error {
	var perr *Error
	if errors.As(err, &perr) {
		return err
	}
	// Escaping is injective (& itself is escaped), so the encoder cannot
	// refuse names the decoder accepted: any error is about the input.
	return fmt.Errorf("%w: %v", ErrInvalidJSON, err)
}

func (w *walker) value(depth int) (any, error) {
	switch w.dec.PeekKind() {
	case '{':
		return w.object(depth + 1)
	case '[':
		return w.array(depth + 1)
	case '"':
		s, err := w.str()
		if err != nil || !w.build {
			return nil, err
		}
		return s, nil
	default:
		return w.scalar()
	}
}

func (w *walker) object(depth int) (any, error) {
	if err := w.open(depth); err != nil {
		return nil, err
	}
	var obj map[string]any
	if w.build {
		obj = make(map[string]any)
	}
	for w.dec.PeekKind() == '"' {
		name, err := w.str()
		if err != nil {
			return nil, err
		}
		v, err := w.value(depth)
		if err != nil {
			return nil, err
		}
		if w.build {
			obj[name] = v
		}
	}
	return obj, w.copyToken() // '}', or the decoder's error
}

func (w *walker) array(depth int) (any, error) {
	if err := w.open(depth); err != nil {
		return nil, err
	}
	var arr []any
	if w.build {
		arr = []any{}
	}
	for k := w.dec.PeekKind(); k != ']' && k != 0; k = w.dec.PeekKind() {
		v, err := w.value(depth)
		if err != nil {
			return nil, err
		}
		if w.build {
			arr = append(arr, v)
		}
	}
	return arr, w.copyToken() // ']', or the decoder's error
}

// open checks the depth of the object or array about to start and copies
// its opening token.
func (w *walker) open(depth int) error {
	if depth > MaxDepth {
		return newError(string(w.dec.StackPointer()), fmt.Sprintf("nesting deeper than %d", MaxDepth))
	}
	return w.copyToken()
}

func (w *walker) copyToken() error {
	tok, err := w.dec.ReadToken()
	if err != nil || w.enc == nil {
		return err
	}
	return w.enc.WriteToken(tok)
}

// str copies a string or a member name, escaped. It returns the string
// only when building the value. Strings with nothing to escape (no markup,
// no backslash escape that could hide some) are copied as they are.
func (w *walker) str() (string, error) {
	raw, err := w.dec.ReadValue()
	if err != nil {
		return "", err
	}
	if !bytes.ContainsAny(raw, `<>&'\`) {
		if w.enc != nil {
			if err := w.enc.WriteValue(raw); err != nil {
				return "", err
			}
		}
		if !w.build {
			return "", nil
		}
		return string(raw[1 : len(raw)-1]), nil
	}
	b, err := jsontext.AppendUnquote(nil, raw)
	if err != nil {
		return "", err
	}
	s := string(b)
	if w.enc != nil {
		if err := w.enc.WriteToken(jsontext.String(html.EscapeString(s))); err != nil {
			return "", err
		}
	}
	return s, nil
}

// scalar copies a number or a literal as raw text, so numbers keep their
// exact spelling.
func (w *walker) scalar() (any, error) {
	raw, err := w.dec.ReadValue()
	if err != nil {
		return nil, err
	}
	if w.enc != nil {
		if err := w.enc.WriteValue(raw); err != nil {
			return nil, err
		}
	}
	if !w.build {
		return nil, nil
	}
	switch raw.Kind() {
	case 't':
		return true, nil
	case 'f':
		return false, nil
	case '0':
		return json.Number(raw), nil
	}
	return nil, nil // null
}
