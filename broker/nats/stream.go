package nats

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rampart-rt/rampart/broker"
)

// Headers of every stored publication. User and client travel in the body
// (see encodeBody): they come from tokens and must not reach a header.
const (
	hdrOffset = "Rampart-Offset"
	hdrEpoch  = "Rampart-Epoch"
	hdrTime   = "Rampart-Time" // unix ms
	hdrSize   = "Rampart-Size" // the channel's history size
	hdrTTL    = "Rampart-TTL"  // the channel's history TTL, ms
)

// trimEvery: every so many publications, a channel whose history size is
// below Options.MaxHistory is purged down to it.
const trimEvery = 16

var enc = base32.HexEncoding.WithPadding(base32.NoPadding)

// token encodes a channel name as one subject token (and KV key).
func token(channel string) string { return enc.EncodeToString([]byte(channel)) }

func channelOf(prefix, subject string) (string, bool) {
	tok, ok := strings.CutPrefix(subject, prefix)
	if !ok {
		return "", false
	}
	b, err := enc.DecodeString(tok)
	return string(b), err == nil
}

func (b *Broker) histSubject(channel string) string {
	return b.opts.Prefix + ".hist." + token(channel)
}

// errConflict: another publisher took the position read; read it again.
var errConflict = errors.New("conflict")

// Publish implements broker.Broker.
func (b *Broker) Publish(ctx context.Context, channel string, data []byte, user, client string, opts broker.PublishOptions) (broker.Position, error) {
	body := encodeBody(user, client, data)
	var pos broker.Position
	err := b.call(ctx, "publish", func(ctx context.Context, hs *handles) error {
		for {
			var err error
			if pos, err = b.append(ctx, hs, channel, body, opts); !errors.Is(err, errConflict) {
				return err
			}
		}
	})
	if err != nil {
		return broker.Position{}, err
	}
	return pos, nil
}

// append reads the channel's position and appends after it, or fails
// with errConflict.
func (b *Broker) append(ctx context.Context, hs *handles, channel string, body []byte, opts broker.PublishOptions) (broker.Position, error) {
	subj := b.histSubject(channel)
	var (
		pos  broker.Position
		last uint64 // stream sequence of the channel's last message
	)
	m, err := hs.st.GetLastMsgForSubject(ctx, subj)
	switch {
	case err == nil:
		last = m.Sequence
		pos, err = position(m.Header)
		if err != nil {
			return pos, err
		}
	case errors.Is(err, jetstream.ErrMsgNotFound):
		if pos.Epoch, err = claimEpoch(ctx, hs.kv, channel); err != nil {
			return pos, err
		}
	default:
		return pos, err
	}
	pos.Offset++
	now := time.Now()
	msg := &nats.Msg{Subject: subj, Data: body, Header: nats.Header{}}
	msg.Header.Set(hdrOffset, strconv.FormatUint(pos.Offset, 10))
	msg.Header.Set(hdrEpoch, pos.Epoch)
	msg.Header.Set(hdrTime, strconv.FormatInt(now.UnixMilli(), 10))
	msg.Header.Set(hdrSize, strconv.Itoa(max(opts.HistorySize, 0)))
	msg.Header.Set(hdrTTL, strconv.FormatInt(max(opts.HistoryTTL, 0).Milliseconds(), 10))
	keep := max(opts.HistoryTTL, b.opts.IdleTimeout).Truncate(time.Second)
	popts := []jetstream.PublishOpt{jetstream.WithExpectLastSequencePerSubject(last), jetstream.WithMsgTTL(keep)}
	if opts.IdempotencyKey != "" {
		// JetStream drops a message whose id it saw within the stream's
		// Duplicates window and acknowledges the first one's sequence.
		popts = append(popts, jetstream.WithMsgID(token(channel)+"."+opts.IdempotencyKey))
	}
	ack, err := b.js.PublishMsg(ctx, msg, popts...)
	if isConflict(err) {
		return pos, errConflict
	}
	if err != nil {
		return pos, err
	}
	if ack.Duplicate {
		return firstPosition(ctx, hs, subj, ack.Sequence)
	}
	if size := uint64(max(opts.HistorySize, 1)); size < uint64(b.opts.MaxHistory) && pos.Offset%trimEvery == 0 {
		// Best effort: MaxMsgsPerSubject and the TTL bound it anyway.
		_ = hs.st.Purge(ctx, jetstream.WithPurgeSubject(subj), jetstream.WithPurgeKeep(size))
	}
	return pos, nil
}

// firstPosition is the position of the publish a retry repeated: that of
// the message at seq, or, when the channel no longer keeps it, the
// channel's last position (the first publish is at or before it).
func firstPosition(ctx context.Context, hs *handles, subj string, seq uint64) (broker.Position, error) {
	m, err := hs.st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		m, err = hs.st.GetLastMsgForSubject(ctx, subj)
	}
	if err != nil {
		return broker.Position{}, err
	}
	return position(m.Header)
}

func isConflict(err error) bool {
	var jsErr jetstream.JetStreamError
	if !errors.As(err, &jsErr) || jsErr.APIError() == nil {
		return false
	}
	c := jsErr.APIError().ErrorCode
	return c == jetstream.JSErrCodeStreamWrongLastSequence || c == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// claimEpoch returns the epoch to start a channel with: the one History
// handed out while the channel was empty, which it removes so that no later
// restart of the channel reuses it, or a new one.
func claimEpoch(ctx context.Context, kv jetstream.KeyValue, channel string) (string, error) {
	e, err := kv.Get(ctx, token(channel))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return newEpoch(), nil
	}
	if err != nil {
		return "", err
	}
	if err := kv.Delete(ctx, token(channel), jetstream.LastRevision(e.Revision())); err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || isConflict(err) {
			return "", errConflict
		}
		return "", err
	}
	return string(e.Value()), nil
}

// pendingEpoch returns the epoch of a channel that has no message yet,
// creating it if needed.
func pendingEpoch(ctx context.Context, kv jetstream.KeyValue, channel string) (string, error) {
	for range 3 {
		epoch := newEpoch()
		_, err := kv.Create(ctx, token(channel), []byte(epoch))
		if err == nil {
			return epoch, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return "", err
		}
		e, err := kv.Get(ctx, token(channel))
		if err == nil {
			return string(e.Value()), nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return "", err
		}
	}
	return "", errors.New("epoch key keeps changing")
}

func position(h nats.Header) (broker.Position, error) {
	off, err := strconv.ParseUint(h.Get(hdrOffset), 10, 64)
	epoch := h.Get(hdrEpoch)
	if err != nil || epoch == "" {
		return broker.Position{}, errors.New("nats broker: stored message without offset or epoch")
	}
	return broker.Position{Offset: off, Epoch: epoch}, nil
}

// encodeBody frames user and client before the data:
// "len(user) len(client)\n" user client data.
func encodeBody(user, client string, data []byte) []byte {
	head := fmt.Sprintf("%d %d\n", len(user), len(client))
	out := make([]byte, 0, len(head)+len(user)+len(client)+len(data))
	out = append(out, head...)
	out = append(out, user...)
	out = append(out, client...)
	return append(out, data...)
}

func decode(channel string, h nats.Header, body []byte) (broker.Publication, error) {
	pos, err := position(h)
	if err != nil {
		return broker.Publication{}, err
	}
	head, rest, ok := strings.Cut(string(body), "\n")
	var ulen, clen int
	if ok {
		_, err = fmt.Sscanf(head, "%d %d", &ulen, &clen)
	}
	if !ok || err != nil || ulen < 0 || clen < 0 || ulen+clen > len(rest) {
		return broker.Publication{}, errors.New("nats broker: malformed publication body")
	}
	ms, _ := strconv.ParseInt(h.Get(hdrTime), 10, 64)
	return broker.Publication{
		Channel: channel, Offset: pos.Offset, Epoch: pos.Epoch,
		User: rest[:ulen], Client: rest[ulen : ulen+clen], Data: []byte(rest[ulen+clen:]),
		Time: time.UnixMilli(ms),
	}, nil
}

func newEpoch() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
