// Package httpapi serves Rampart's HTTP API (/api/*) for the application's
// backend: it authenticates the request (a bearer API key, compared by
// hash in constant time), refuses cross-site requests, bounds and strictly
// decodes the body, calls the server-side Go API and writes its answer.
// Every rule, check and audit line is the Go API's; what this package
// decides is HTTP: the status each error code answers with (one table,
// statuses) and the error body {"error": code, "request_id": id}.
package httpapi
