package redis

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rampart-rt/rampart/broker"
)

// publishScript assigns the next offset, keeps the publication and
// publishes it, atomically.
// KEYS: top, hist, and the idempotency key's key when there is one. ARGV:
// new epoch (used if the stream is lost), data, user, client, history
// size, history TTL ms, key lifetime ms, pub/sub name, idempotency window
// ms. With an idempotency key seen within the window, nothing is stored or
// published and the first publish's offset and epoch come back (the third
// element is then -1).
// The pub/sub payload is "offset epoch ms len(user) len(client)\n" then
// user, client and data.
var publishScript = redis.NewScript(`
if KEYS[3] then
  local seen = redis.call('GET', KEYS[3])
  if seen then
    local o, pe = string.match(seen, '^(%d+) (.+)$')
    return {tonumber(o), pe, -1}
  end
end
` + epochLua + `
local off = redis.call('HINCRBY', KEYS[1], 'o', 1)
local size, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('HSET', KEYS[1], 'l', ttl)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if size > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', size, '*', 'o', off, 'd', ARGV[2], 'u', ARGV[3], 'c', ARGV[4])
  if ttl > 0 then redis.call('XTRIM', KEYS[2], 'MINID', now - ttl) end
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
else
  redis.call('DEL', KEYS[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PUBLISH', ARGV[8], string.format('%d %s %d %d %d\n', off, e, now, #ARGV[3], #ARGV[4]) .. ARGV[3] .. ARGV[4] .. ARGV[2])
if KEYS[3] then redis.call('SET', KEYS[3], off .. ' ' .. e, 'PX', ARGV[9]) end
return {off, e, now}
`)

// epochLua starts both scripts: it sets e to the channel's epoch, and
// started to true when it had to start one (ARGV[1], at offset 0, its
// history dropped): when the stream is lost, and when it was last written
// under another replication id (master_replid) on a server that has been
// promoted from replica since it started (its master_replid2 is set).
// Replication is asynchronous, so a promoted replica may lack the last
// publications its old primary acknowledged and subscribers received;
// going on in the same epoch would hand their offsets out again for other
// data. A server restarted on its own data (a new id, no master_replid2)
// goes on, as does a stream written before the id was recorded.
// KEYS: top, hist.
const epochLua = `
local info = redis.call('INFO', 'replication')
local r = string.match(info, 'master_replid:(%w+)') or ''
local promoted = string.find(string.match(info, 'master_replid2:(%w+)') or '', '[^0]') ~= nil
local cur = redis.call('HMGET', KEYS[1], 'e', 'r')
local e, seen = cur[1], cur[2]
local started = not e or (seen and seen ~= r and promoted)
if started then
  e = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', e, 'o', 0, 'r', r)
elseif seen ~= r then
  redis.call('HSET', KEYS[1], 'r', r)
end
`

// historyScript returns the epoch, the last offset and the newest kept
// entries, newest first: all with a negative count, else that many.
// KEYS: top, hist. ARGV: new epoch, key lifetime ms, count.
// A lost or new stream gets the new epoch at offset 0, so the first
// publication carries the epoch this call reported.
var historyScript = redis.NewScript(epochLua + `
if started then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {e, 0, {}}
end
local top = tonumber(redis.call('HGET', KEYS[1], 'o'))
local ttl = tonumber(redis.call('HGET', KEYS[1], 'l') or '0')
if ttl > 0 then
  local t = redis.call('TIME')
  redis.call('XTRIM', KEYS[2], 'MINID', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - ttl)
end
local n = tonumber(ARGV[3])
if n == 0 then return {e, top, {}} end
if n < 0 then return {e, top, redis.call('XREVRANGE', KEYS[2], '+', '-')} end
return {e, top, redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', n)}
`)

func (b *Broker) keys(channel string) []string {
	return []string{b.channelKey(channel, "top"), b.channelKey(channel, "hist")}
}

// channelKey names one of a channel's keys; the hash tag keeps them all in
// one Redis Cluster slot, as the scripts need.
func (b *Broker) channelKey(channel, name string) string {
	return b.opts.Prefix + ":{" + channel + "}:" + name
}

// lifetime is how long a channel's keys outlive its last publication.
func (b *Broker) lifetime(ttl time.Duration) int64 {
	return max(ttl, b.opts.IdleTimeout).Milliseconds()
}

// Publish implements broker.Broker.
func (b *Broker) Publish(ctx context.Context, channel string, data []byte, user, client string, opts broker.PublishOptions) (broker.Position, error) {
	if b.isClosed() {
		return broker.Position{}, broker.ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout)
	defer cancel()
	ttl := max(opts.HistoryTTL, 0)
	keys := b.keys(channel)
	if opts.IdempotencyKey != "" {
		keys = append(keys, b.channelKey(channel, "idem:"+opts.IdempotencyKey))
	}
	res, err := publishScript.Run(ctx, b.rdb, keys,
		newEpoch(), data, user, client, max(opts.HistorySize, 0), ttl.Milliseconds(), b.lifetime(ttl), b.pubPrefix()+channel,
		broker.IdempotencyWindow.Milliseconds()).Slice()
	if err != nil {
		return broker.Position{}, b.fail("publish", err)
	}
	if len(res) != 3 {
		return broker.Position{}, fmt.Errorf("redis broker: publish: unexpected reply %v", res)
	}
	off, _ := res[0].(int64)
	epoch, _ := res[1].(string)
	return broker.Position{Offset: uint64(off), Epoch: epoch}, nil
}

// History implements broker.Broker.
func (b *Broker) History(ctx context.Context, channel string, req broker.HistoryRequest) ([]broker.Publication, broker.Position, error) {
	if b.isClosed() {
		return nil, broker.Position{}, broker.ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout)
	defer cancel()
	count := int64(req.Limit)
	if req.Since != nil && req.Limit != 0 {
		count = -1 // the script cannot know top - since in advance; the history size bounds it
	}
	res, err := historyScript.Run(ctx, b.rdb, b.keys(channel), newEpoch(), b.lifetime(0), count).Slice()
	if err != nil {
		return nil, broker.Position{}, b.fail("history", err)
	}
	if len(res) != 3 {
		return nil, broker.Position{}, fmt.Errorf("redis broker: history: unexpected reply %v", res)
	}
	epoch, _ := res[0].(string)
	top, _ := res[1].(int64)
	entries, _ := res[2].([]any)
	pos := broker.Position{Offset: uint64(top), Epoch: epoch}
	pubs := make([]broker.Publication, 0, len(entries))
	for i := len(entries) - 1; i >= 0; i-- { // oldest first
		p, err := decodeEntry(channel, epoch, entries[i])
		if err != nil {
			return nil, broker.Position{}, fmt.Errorf("redis broker: history: %w", err)
		}
		if req.Since == nil || p.Offset > req.Since.Offset {
			pubs = append(pubs, p)
		}
	}
	if req.Since != nil && req.Limit >= 0 && len(pubs) > req.Limit {
		pubs = pubs[:req.Limit]
	}
	return pubs, pos, nil
}

// decodeEntry reads one XRANGE entry: [id, [field, value, ...]].
func decodeEntry(channel, epoch string, v any) (broker.Publication, error) {
	e, ok := v.([]any)
	if !ok || len(e) != 2 {
		return broker.Publication{}, errors.New("malformed stream entry")
	}
	id, _ := e[0].(string)
	fields, _ := e[1].([]any)
	p := broker.Publication{Channel: channel, Epoch: epoch}
	for i := 0; i+1 < len(fields); i += 2 {
		k, _ := fields[i].(string)
		val, _ := fields[i+1].(string)
		switch k {
		case "o":
			off, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				return broker.Publication{}, fmt.Errorf("stream entry %s: offset: %w", id, err)
			}
			p.Offset = off
		case "d":
			p.Data = []byte(val)
		case "u":
			p.User = val
		case "c":
			p.Client = val
		}
	}
	ms, _, _ := bytes.Cut([]byte(id), []byte("-"))
	msec, err := strconv.ParseInt(string(ms), 10, 64)
	if err != nil || p.Offset == 0 {
		return broker.Publication{}, fmt.Errorf("stream entry %q: bad id or offset", id)
	}
	p.Time = time.UnixMilli(msec)
	return p, nil
}

// decodeMessage reads the pub/sub payload written by publishScript.
func decodeMessage(channel, payload string) (broker.Publication, error) {
	head, rest, ok := strings.Cut(payload, "\n")
	if !ok {
		return broker.Publication{}, errors.New("no header")
	}
	var (
		p          = broker.Publication{Channel: channel}
		ms         int64
		ulen, clen int
	)
	if _, err := fmt.Sscanf(head, "%d %s %d %d %d", &p.Offset, &p.Epoch, &ms, &ulen, &clen); err != nil {
		return broker.Publication{}, err
	}
	if ulen < 0 || clen < 0 || ulen+clen > len(rest) {
		return broker.Publication{}, errors.New("bad lengths")
	}
	p.User, p.Client, p.Data = rest[:ulen], rest[ulen:ulen+clen], []byte(rest[ulen+clen:])
	p.Time = time.UnixMilli(ms)
	return p, nil
}

func newEpoch() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
