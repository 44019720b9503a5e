// Package config reads a Rampart configuration file: YAML with every key
// known, RAMPART_* environment variables that win over the file, secrets by
// environment or file, and every problem reported at once with its line (or
// the variable that set it) and the reason.
//
// It decides what a valid configuration file is; what each setting does is
// the server's business.
package config
