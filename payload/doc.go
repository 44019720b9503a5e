// Package payload decides whether the data published on a channel is
// acceptable for that channel, and neutralises markup in it.
//
// A channel rule may name a JSON Schema file (its `schema` key) and ask for
// HTML sanitizing (`sanitize_html`). [Compile] turns those two settings into
// a [Processor] once, at start-up; [Processor.Process] then runs for every
// publication: it validates the data against the schema exactly as the
// client sent it and, when sanitizing, returns a new JSON value in which
// every string (object member names included) is HTML-escaped.
//
// The package does not decide who may publish (that is package policy), nor
// does it parse frames, refuse duplicate names or enforce the message size
// and the 32-level nesting limit: the protocol layer does that before data
// arrives here.
//
// # Schemas
//
// Schemas follow JSON Schema draft 2020-12 unless the file's $schema names
// another draft (2019-09, 7, 6 or 4). The meta-schemas are built in. A $ref
// may point into the same file or to another file in the schema file's
// directory (or below it); nothing else is ever read: http, https and any
// other scheme, absolute paths elsewhere, ".." escapes and symlinks leading
// out of the directory are refused when the schema is compiled. Format
// keywords ("email", "date-time", ...) are asserted, not just annotations.
// Patterns use Go's RE2 engine, so matching time is linear in the input.
//
// # Sanitizing
//
// With SanitizeHTML, the five characters & < > " ' in every string value
// and every object member name, at any depth, become &amp; &lt; &gt; &#34;
// and &#39; (as html.EscapeString does). Nothing is removed, so the text a
// user typed survives intact and renders as text even through innerHTML:
// `<img src=x onerror=alert(1)>` arrives as `&lt;img src=x onerror=alert(1)&gt;`.
// Numbers keep their exact text, literals (true, false, null) are unchanged,
// member order is kept, and the output is compact JSON. Escaping is not
// idempotent: data that already holds `&lt;` arrives as `&amp;lt;`. An
// escaped string can be up to five times longer than the original ("'"
// becomes "&#39;"). Escaping is injective (& itself is escaped), so two
// distinct member names stay distinct. String escapes in the input are
// normalised (`"\u00e9"` is written as `"é"`): the same string value.
package payload
