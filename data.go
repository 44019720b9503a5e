package rampart

import (
	"errors"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/rampart-rt/rampart/payload"
	"github.com/rampart-rt/rampart/policy"
)

// checkData runs published data through its rule's schema and sanitizing,
// once per publish: what is stored and delivered is the result.
func (s *Server) checkData(rule *policy.Rule, channel string, data jsontext.Value) (jsontext.Value, *cmdError) {
	p := s.st().procs[rule.Pattern]
	if p == nil {
		return data, nil
	}
	out, err := p.Process(data)
	if err != nil {
		var pe *payload.Error
		if errors.As(err, &pe) {
			return nil, errBadRequest("data does not match the channel schema: " + pe.Error())
		}
		return nil, errBadRequest("data refused")
	}
	return out, nil
}

// auditPublish logs a publish to a channel whose rule says audit: who,
// where, how big; never the body.
func (s *Server) auditPublish(rule *policy.Rule, channel, user, client string, size int) {
	if !rule.Audit {
		return
	}
	s.log.Info("publish", "event", "publish_audit", "channel", channel, "user", user, "client", client, "bytes", size)
}
