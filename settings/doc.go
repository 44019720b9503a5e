// Package settings holds the server's settings as the configuration file
// names them: their types, defaults, validation and compiled form.
//
// [Settings] is everything the configuration file decides about the server
// itself: path, origins, token verification, limits, channel rules, RPC and
// the HTTP API. [Compile] fills in the defaults, checks every value and
// compiles what the server runs (the channel rules, each rule's JSON Schema
// and sanitizing, the origin allow-list, the trusted proxies, the token
// verifier's configuration), returning every problem at once, each a
// [*FieldError] whose Path is the key as the file writes it. What it
// returns, a [Compiled], is immutable, and it is what the server runs:
// nothing is checked in one place and compiled again in another.
//
// Two callers share it. Package rampart (the library) compiles a Config's
// settings once in New and once in each Reload. Package config (the
// binary's file loader) compiles the file's settings to report their
// problems with file lines, and keeps the result, which the binary hands to
// the library in Config.Compiled: [Compiled.Recompile] then takes each part
// whose settings the binary left unchanged as it is, so a schema file is
// read and compiled once, and the server runs exactly what was checked.
//
// It decides what a valid setting is and what its default is; it does not
// read the environment or any file other than the schema files channel
// rules name (where a secret comes from is the binary's business, in
// package config), and it does not decide what a setting does at run time.
package settings
