// Package config reads a Rampart configuration file: YAML with every key
// known, RAMPART_* environment variables that win over the file, secrets by
// environment or file, and every problem reported at once with its line (or
// the variable that set it) and the reason.
//
// It decides what a valid configuration file is; what each setting does is
// the server's business.
//
// # Layout
//
// A [File] is the server's settings, whose types, defaults and checks are
// package settings', plus what only the binary needs: the listener, TLS,
// the metrics listener, logs and the broker. Where a secret comes from is
// the binary's business too, so the auth and api sections are this
// package's own types ([Auth], [API]): the server's section inline, and the
// keys naming the variable or the file that holds the secret or the keys
// (auth.hmac_secret_env, auth.hmac_secret_file, auth.public_key_files,
// api.keys_env, api.keys_file). The loader reads them; the server is given
// only the secret and the keys themselves. The package does not import the
// server (package rampart).
//
// # Checked once
//
// The server's settings are checked by compiling them with
// settings.Compile (the channel rules, their JSON Schemas, the origins,
// the trusted proxies, the token verifier's checks), whose problems name
// their keys; the loader adds the line, or the variable or flag that set
// the value. What compiled is kept: [File.Compiled] is what the binary
// hands to the server (rampart.ConfigOf), which then compiles nothing
// again, so a schema file is read once and the server runs exactly what
// was checked.
//
// # A starting file
//
// [Template] writes a file with every key at its default, each under the
// comment of the Go field that defines it (what `rampart init` writes).
// The binary has no Go sources, so those comments are copied into
// keydocs_gen.go by `go generate`; a test fails when that copy differs from
// the sources, and another when a key has no comment.
package config
