package settings

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"

	"github.com/rampart-rt/rampart/auth"
	"github.com/rampart-rt/rampart/internal/clientip"
	"github.com/rampart-rt/rampart/internal/origin"
	"github.com/rampart-rt/rampart/payload"
	"github.com/rampart-rt/rampart/policy"
)

// Compiled is Settings checked, with their defaults filled in, and
// compiled: the channel rules, each rule's payload processor (its JSON
// Schema and sanitizing), the origin allow-list, the trusted proxies and
// the token verifier's configuration. It is what a server runs. It is
// immutable and safe for concurrent use; it shares nothing with the
// Settings it was compiled from.
type Compiled struct {
	settings Settings // with defaults
	rules    *policy.Rules
	procs    map[string]*payload.Processor // by rule pattern
	origins  *origin.Matcher
	clientIP *clientip.Resolver
}

// Compile fills in the defaults of s, checks every setting and compiles
// what the server runs. It returns every problem at once, each a
// *FieldError, in the order of the configuration file's sections. It reads
// the schema files the channel rules name (a relative name is relative to
// the working directory).
func Compile(s Settings) (*Compiled, error) { return compile(s, nil) }

// Recompile is Compile for s, taking each compiled part of c whose
// settings s leaves exactly as they were as it is, instead of compiling it
// again: the channel rules and their schemas (all of channels), the
// origin allow-list (origins.allow), the trusted proxies and the token
// verifier's checks (all of auth). Every other setting is checked again,
// which costs nothing. A schema file is then not read again: the server
// runs the schema c read, the one that was checked.
func (c *Compiled) Recompile(s Settings) (*Compiled, error) { return compile(s, c) }

func compile(s Settings, prev *Compiled) (*Compiled, error) {
	c := &Compiled{settings: s.clone().withDefaults()}
	set := &c.settings
	var p problems
	set.checkTop(&p)
	c.compileNetwork(prev, &p)
	set.Auth.check(&p)
	if prev == nil || !reflect.DeepEqual(prev.settings.Auth, set.Auth) {
		checkVerifier(set.Auth, &p)
	}
	set.Limits.check(&p)
	set.Compression.check(&p)
	set.RPC.check(&p)
	set.API.check(&p)
	set.Hooks.check(&p)
	set.Console.check(&p)
	checkKeys(&p, "metrics.keys_env", set.MetricsKeys)
	c.compileChannels(prev, &p)
	if len(p) > 0 {
		return nil, errors.Join(p...)
	}
	return c, nil
}

// compileNetwork compiles the origin allow-list and the trusted proxies.
func (c *Compiled) compileNetwork(prev *Compiled, p *problems) {
	var err error
	if prev != nil && reflect.DeepEqual(prev.settings.Origins.Allow, c.settings.Origins.Allow) {
		c.origins = prev.origins
	} else if c.origins, err = origin.New(c.settings.Origins.Allow); err != nil {
		for _, e := range unjoin(err) {
			p.add("origins.allow", "%s", e)
		}
	}
	if prev != nil && reflect.DeepEqual(prev.settings.TrustedProxies, c.settings.TrustedProxies) {
		c.clientIP = prev.clientIP
	} else if c.clientIP, err = clientip.New(c.settings.TrustedProxies); err != nil {
		for _, e := range unjoin(err) {
			p.add("trusted_proxies", "%s", e)
		}
	}
}

// compileChannels compiles each rule's payload processor, then the rules.
func (c *Compiled) compileChannels(prev *Compiled, p *problems) {
	rules := c.settings.Channels
	if prev != nil && reflect.DeepEqual(prev.settings.Channels, rules) {
		c.procs, c.rules = prev.procs, prev.rules
		return
	}
	var err error
	if c.procs, err = compileProcessors(rules); err != nil {
		*p = append(*p, unjoin(err)...)
	}
	if c.rules, err = policy.Compile(rules); err != nil {
		for _, e := range unjoin(err) {
			path, reason, _ := strings.Cut(e.Error(), ": ")
			p.add(path, "%s", reason)
		}
	}
}

// compileProcessors compiles each rule's schema and sanitizing, keyed by
// the rule's pattern (the first rule of a pattern is the one that matches
// a channel). Every problem is a *FieldError.
func compileProcessors(rules []policy.Rule) (map[string]*payload.Processor, error) {
	out := make(map[string]*payload.Processor)
	seen := make(map[string]bool)
	var errs []error
	for i, r := range rules {
		first := !seen[r.Pattern]
		seen[r.Pattern] = true
		if r.Schema == "" && !r.SanitizeHTML {
			continue
		}
		proc, err := payload.Compile(payload.Options{SchemaFile: r.Schema, SanitizeHTML: r.SanitizeHTML})
		if err != nil {
			errs = append(errs, &FieldError{Path: fmt.Sprintf("channels[%d].schema", i), Reason: err.Error()})
			continue
		}
		if first {
			out[r.Pattern] = proc
		}
	}
	return out, errors.Join(errs...)
}

// Settings returns the settings c was compiled from, with their defaults
// filled in: a copy the caller may change.
func (c *Compiled) Settings() Settings { return c.settings.clone() }

// Rules returns the compiled channel rules.
func (c *Compiled) Rules() *policy.Rules { return c.rules }

// Processors returns the payload processor of each rule with a schema or
// sanitizing, by the rule's pattern: a new map, sharing the processors
// (which are immutable).
func (c *Compiled) Processors() map[string]*payload.Processor { return maps.Clone(c.procs) }

// Origins returns the compiled origin allow-list.
func (c *Compiled) Origins() *origin.Matcher { return c.origins }

// ClientIP returns the resolver that finds a request's client address
// through the trusted proxies.
func (c *Compiled) ClientIP() *clientip.Resolver { return c.clientIP }

// Auth returns the token verifier's configuration, checked (without a
// logger: the server adds its own).
func (c *Compiled) Auth() auth.Config { return authConfig(c.settings.clone().Auth) }

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
