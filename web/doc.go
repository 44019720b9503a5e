// Package web is Rampart's demo page: a two-tab chat on the channel
// chat:lobby, built on the JavaScript client (@rampart/client, compiled from
// js/ into static/rampart.js and committed, so the page works without npm).
//
// Handler serves "/" (the page) and "/static/*" (its script, style sheet and
// the client) from files embedded in the binary, with explicit Content-Types
// and nosniff (the icon is an SVG file, linked from the page, so that the
// browser asks for no /favicon.ico). The page holds no inline script or style, so it runs under a
// strict Content-Security-Policy; the Rampart server adds that policy to
// every page it serves, and Handler sets a policy of its own only when none
// was set before it (when mounted by another server).
//
// The page fetches its token from GET /dev/token, which only
// `rampart serve --dev` serves. The package decides nothing about who may
// connect: origin checks, authentication and channel rules are the server's.
package web
