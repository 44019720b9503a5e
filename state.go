package rampart

import (
	"context"
	"errors"
	"fmt"

	"github.com/lxzan/gws"
	"golang.org/x/time/rate"

	"github.com/rampart-rt/rampart/auth"
	"github.com/rampart-rt/rampart/internal/clientip"
	"github.com/rampart-rt/rampart/internal/httpapi"
	"github.com/rampart-rt/rampart/internal/origin"
	"github.com/rampart-rt/rampart/payload"
	"github.com/rampart-rt/rampart/policy"
	"github.com/rampart-rt/rampart/protocol"
	"github.com/rampart-rt/rampart/settings"
)

// state is everything Reload may replace, built and checked whole before it
// is swapped in: every lookup sees one whole configuration, never half of
// a reload.
type state struct {
	cfg            Config
	rules          *policy.Rules
	procs          map[string]*payload.Processor // by rule pattern
	origins        *origin.Matcher
	clientIP       *clientip.Resolver
	verifier       *auth.Verifier
	apiKeys        httpapi.Keys
	metricsKeys    httpapi.Keys
	upgrader       *gws.Upgrader // selects rampart.v1
	upgraderNoProt *gws.Upgrader // for clients that offer no subprotocol, when allowed
}

func (s *Server) st() *state { return s.state.Load() }

// newState builds the state that runs cfg, whose settings c compiled
// (cfg's settings are c's, with defaults). Nothing is compiled again here:
// the verifier only takes the checked configuration.
func (s *Server) newState(cfg Config, c *settings.Compiled) (*state, error) {
	st := &state{
		cfg:         cfg,
		rules:       c.Rules(),
		procs:       c.Processors(),
		origins:     c.Origins(),
		clientIP:    c.ClientIP(),
		apiKeys:     httpapi.HashKeys(cfg.API.Keys),
		metricsKeys: httpapi.HashKeys(cfg.MetricsKeys),
	}
	ac := c.Auth()
	ac.Logger = s.log
	var err error
	if st.verifier, err = auth.New(context.Background(), ac); err != nil {
		return nil, fmt.Errorf("rampart: auth: %w", err)
	}
	st.upgrader = s.newUpgrader(cfg.Limits, cfg.Compression, []string{protocol.Subprotocol})
	st.upgraderNoProt = s.newUpgrader(cfg.Limits, cfg.Compression, nil)
	return st, nil
}

// ErrReloadFixed is returned (wrapped) by Reload when cfg changes a setting
// that only a restart can change.
var ErrReloadFixed = errors.New("rampart: setting cannot change without a restart")

// Reload swaps in a new configuration without dropping connections: token
// keys and secrets, origins, trusted proxies, limits, channel rules and
// schemas, API keys and RPC settings. Subscriptions the new rules no longer
// allow are removed with an unsubscribe push; connections get the new
// message rate at once and every other new limit on their next use (the
// message size limit applies to new connections). A configuration that
// does not validate is refused and the old one stays. Path, broker,
// limiter, logger, registry, pages and whether the console is on are
// fixed at New.
func (s *Server) Reload(cfg Config) error {
	c, err := cfg.compile()
	if err != nil {
		return err
	}
	cfg.setSettings(c.Settings())
	if cfg.Path != s.cfg.Path {
		return fmt.Errorf("path: %w", ErrReloadFixed)
	}
	cfg.Broker, cfg.Limiter, cfg.Logger, cfg.Registry = s.cfg.Broker, s.cfg.Limiter, s.cfg.Logger, s.cfg.Registry
	cfg.Pages, cfg.ConnectSources, cfg.AdminSeparate = s.cfg.Pages, s.cfg.ConnectSources, s.cfg.AdminSeparate
	cfg.IOURing = s.cfg.IOURing
	if err := s.checkJoinLeave(cfg.Channels); err != nil {
		return fmt.Errorf("rampart: %w", err)
	}
	cfg.Console.Enabled = s.cfg.Console.Enabled
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	st, err := s.newState(cfg, c)
	if err != nil {
		return err
	}
	old := s.state.Swap(st)
	_ = old.verifier.Close()
	l := cfg.Limits
	for _, c := range s.reg.snapshot() {
		c.msgRate.SetLimit(rate.Limit(float64(l.MessagesPerMinute) / 60))
		c.msgRate.SetBurst(l.Burst)
		c.recheck("permission removed by the server's configuration")
	}
	s.log.Info("configuration reloaded", "event", "config_reloaded", "connections", s.Connections())
	return nil
}
