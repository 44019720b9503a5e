package nats

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rampart-rt/rampart/broker"
)

// History implements broker.Broker. The channel's last message gives its
// position, history size and TTL; the kept publications are read with a
// short-lived consumer filtered on the channel's subject.
func (b *Broker) History(ctx context.Context, channel string, req broker.HistoryRequest) ([]broker.Publication, broker.Position, error) {
	var (
		pubs []broker.Publication
		pos  broker.Position
	)
	err := b.call(ctx, "history", func(ctx context.Context, hs *handles) (err error) {
		pubs, pos, err = b.history(ctx, hs, channel, req)
		return err
	})
	if err != nil {
		return nil, broker.Position{}, err
	}
	return pubs, pos, nil
}

func (b *Broker) history(ctx context.Context, hs *handles, channel string, req broker.HistoryRequest) ([]broker.Publication, broker.Position, error) {
	last, err := hs.st.GetLastMsgForSubject(ctx, b.histSubject(channel))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		epoch, err := pendingEpoch(ctx, hs.kv, channel)
		return nil, broker.Position{Epoch: epoch}, err
	}
	if err != nil {
		return nil, broker.Position{}, err
	}
	pos, err := position(last.Header)
	if err != nil {
		return nil, broker.Position{}, err
	}
	size, _ := strconv.ParseUint(last.Header.Get(hdrSize), 10, 64)
	ttlMS, _ := strconv.ParseInt(last.Header.Get(hdrTTL), 10, 64)
	from := uint64(1) // the oldest offset wanted
	if size < pos.Offset {
		from = pos.Offset - size + 1
	}
	switch {
	case req.Limit == 0 || size == 0:
		return nil, pos, nil
	case req.Since != nil:
		from = max(from, req.Since.Offset+1)
	case req.Limit > 0 && uint64(req.Limit) < pos.Offset:
		from = max(from, pos.Offset-uint64(req.Limit)+1)
	}
	if from > pos.Offset {
		return nil, pos, nil
	}
	var notBefore time.Time
	if ttlMS > 0 {
		notBefore = time.Now().Add(-time.Duration(ttlMS) * time.Millisecond)
	}
	pubs, err := b.read(ctx, hs.st, channel, from, pos, notBefore)
	if err != nil {
		return nil, broker.Position{}, err
	}
	if req.Since != nil && req.Limit > 0 && len(pubs) > req.Limit {
		pubs = pubs[:req.Limit]
	}
	return pubs, pos, nil
}

// read returns the channel's stored publications from offset from up to
// pos, published at or after notBefore, oldest first.
func (b *Broker) read(ctx context.Context, st jetstream.Stream, channel string, from uint64, pos broker.Position, notBefore time.Time) ([]broker.Publication, error) {
	cfg := jetstream.ConsumerConfig{
		FilterSubject:     b.histSubject(channel),
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		InactiveThreshold: 30 * time.Second, // in case the delete below is lost
	}
	if !notBefore.IsZero() {
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &notBefore
	}
	cons, err := st.CreateConsumer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.opts.OpTimeout)
		_ = st.DeleteConsumer(dctx, cons.CachedInfo().Name)
		cancel()
	}()
	pending := int(cons.CachedInfo().NumPending)
	if pending == 0 {
		return nil, nil
	}
	wait := time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = max(time.Until(dl), 10*time.Millisecond)
	}
	batch, err := cons.Fetch(pending, jetstream.FetchMaxWait(wait))
	if err != nil {
		return nil, err
	}
	var pubs []broker.Publication
	for m := range batch.Messages() {
		p, err := decode(channel, m.Headers(), m.Data())
		if err != nil || p.Epoch != pos.Epoch || p.Offset < from || p.Offset > pos.Offset {
			continue
		}
		pubs = append(pubs, p)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		return nil, err
	}
	return pubs, nil
}
