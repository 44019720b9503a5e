// Package hooks is the application backend's side of Rampart's backend
// hooks: the requests Rampart sends to the URLs configured under hooks:
// (connect, subscribe, publish, notify), the replies it accepts, and the
// check of the signature every request carries.
//
// Rampart signs each request with HMAC-SHA256 over a timestamp and the
// body, in the Rampart-Signature header ("t=<unix seconds>,v1=<hex>"),
// with the key the operator gave both sides (hooks.key_env or
// hooks.key_file). A backend checks it with Verify or Middleware before it
// believes a word of the body; the timestamp bounds replays to Window, and
// notifications carry an event id to deduplicate a retried delivery.
//
// What it decides: the wire format of the hooks and whether a request is
// authentic. What it does not: whether a user may connect, subscribe or
// publish (the backend's answer), or how Rampart calls the backend
// (timeouts, bounds, retries: the server's settings).
package hooks
