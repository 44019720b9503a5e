//go:build faults

package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

const (
	publishRate     = 50               // publications per second, over every channel
	publishInFlight = 16               // publishes waiting for an answer at most; a tick finding none free is skipped
	publishTimeout  = 5 * time.Second  // the broker's bound (3s) and some
	publishGrace    = 10 * time.Second // how long stop waits for publishes in flight
)

// publisher is the application's backend: it publishes {"n": n} through
// POST /api/publish, round robin over channels and nodes, at a steady
// rate, and writes every answer in the ledger. A node that refuses the
// connection has not published, so the same publication goes to the next
// node, as a load balancer would send it.
type publisher struct {
	c      *cluster
	client *http.Client
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

func startPublisher(c *cluster) *publisher {
	ctx, cancel := context.WithTimeout(context.Background(), runWithin)
	tr := &http.Transport{MaxIdleConnsPerHost: publishInFlight, IdleConnTimeout: 10 * time.Second}
	p := &publisher{c: c, stop: cancel, client: &http.Client{Timeout: publishTimeout, Transport: tr}}
	p.wg.Add(1)
	go p.loop(ctx)
	c.t.Cleanup(func() {
		_ = p.finish()
		tr.CloseIdleConnections()
	})
	return p
}

func (p *publisher) loop(ctx context.Context) {
	defer p.wg.Done()
	tick := time.NewTicker(time.Second / publishRate)
	defer tick.Stop()
	slots := make(chan struct{}, publishInFlight)
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case slots <- struct{}{}:
		default:
			continue // every slot waits on a stalled broker
		}
		rec := p.c.ledger.add(p.c.channels[i%len(p.c.channels)])
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.publish(rec, i)
			<-slots
		}()
	}
}

// finish stops publishing and waits for the answers in flight.
func (p *publisher) finish() error {
	p.stop()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(publishGrace):
		return fmt.Errorf("publishes still in flight %v after the publisher stopped", publishGrace)
	}
}

func (p *publisher) publish(rec *record, i int) {
	body, _ := json.Marshal(map[string]any{"channel": rec.channel, "data": map[string]int64{"n": rec.n}})
	why := "no node took the connection"
	for k := range p.c.nodes {
		nd := p.c.nodes[(i+k)%len(p.c.nodes)]
		o, pos, w := p.try(nd, body)
		if o != failed || !refused(w) {
			p.c.ledger.settle(rec, o, pos, w)
			return
		}
		why = w
	}
	p.c.ledger.settle(rec, failed, position{}, why)
}

// errRefused marks an answer that proves nothing was published.
var errRefused = errors.New("connection refused")

func refused(why string) bool { return why == errRefused.Error() }

func (p *publisher) try(nd *node, body []byte) (outcome, position, string) {
	req, _ := http.NewRequest(http.MethodPost, "http://"+nd.addr()+"/api/publish", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return failed, position{}, errRefused.Error()
		}
		return maybe, position{}, "no answer: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var ans struct {
		Offset uint64 `json:"offset"`
		Epoch  string `json:"epoch"`
		Error  string `json:"error"`
	}
	_ = json.Unmarshal(b, &ans)
	switch {
	case resp.StatusCode == http.StatusOK && ans.Epoch != "" && ans.Offset > 0:
		p.c.epochs.idx(ans.Epoch)
		return acked, position{Epoch: ans.Epoch, Offset: ans.Offset}, ""
	case resp.StatusCode == http.StatusOK:
		return maybe, position{}, "200 without a position: " + string(b)
	case ans.Error == "unavailable":
		return maybe, position{}, "unavailable"
	}
	return failed, position{}, fmt.Sprintf("%d %s", resp.StatusCode, ans.Error)
}
