package redis

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rampart-rt/rampart/broker"
)

// Presence keys, per channel, next to its stream keys (same hash slot):
// "<prefix>:{<channel>}:presence", a sorted set of client ids scored by
// their expiry (unix ms, Redis's clock), and "<prefix>:{<channel>}:users",
// a hash from client id to user id. Both expire with the longest TTL given,
// so a channel nobody refreshes leaves nothing behind.

// addPresenceScript. KEYS: presence, users. ARGV: client, user, ttl ms.
var addPresenceScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
for i = 1, 2 do
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1
`)

// removePresenceScript. KEYS: presence, users. ARGV: client.
var removePresenceScript = redis.NewScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`)

// presenceScript drops expired entries and returns the rest as
// client, user, client, user...
// KEYS: presence, users.
var presenceScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #gone > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  for i = 1, #gone, 1000 do
    redis.call('HDEL', KEYS[2], unpack(gone, i, math.min(i + 999, #gone)))
  end
end
local live = redis.call('ZRANGE', KEYS[1], 0, -1)
local out = {}
for _, c in ipairs(live) do
  local u = redis.call('HGET', KEYS[2], c)
  if u then
    out[#out + 1] = c
    out[#out + 1] = u
  end
end
return out
`)

func (b *Broker) presenceKeys(channel string) []string {
	k := b.opts.Prefix + ":{" + channel + "}:"
	return []string{k + "presence", k + "users"}
}

// AddPresence implements broker.Presence. A TTL under a millisecond is
// taken as one.
func (b *Broker) AddPresence(ctx context.Context, channel string, e broker.PresenceEntry, ttl time.Duration) error {
	if b.isClosed() {
		return broker.ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout)
	defer cancel()
	ms := max(ttl.Milliseconds(), 1)
	if err := addPresenceScript.Run(ctx, b.rdb, b.presenceKeys(channel), e.Client, e.User, ms).Err(); err != nil {
		return b.fail("add presence", err)
	}
	return nil
}

// RemovePresence implements broker.Presence.
func (b *Broker) RemovePresence(ctx context.Context, channel, client string) error {
	if b.isClosed() {
		return broker.ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout)
	defer cancel()
	if err := removePresenceScript.Run(ctx, b.rdb, b.presenceKeys(channel), client).Err(); err != nil {
		return b.fail("remove presence", err)
	}
	return nil
}

// Presence implements broker.Presence: the live entries, sorted by user,
// then client. Expired entries are removed on the way.
func (b *Broker) Presence(ctx context.Context, channel string) ([]broker.PresenceEntry, error) {
	if b.isClosed() {
		return nil, broker.ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout)
	defer cancel()
	res, err := presenceScript.Run(ctx, b.rdb, b.presenceKeys(channel)).StringSlice()
	if err != nil {
		return nil, b.fail("presence", err)
	}
	if len(res)%2 != 0 {
		return nil, fmt.Errorf("redis broker: presence: odd reply of %d strings", len(res))
	}
	out := make([]broker.PresenceEntry, 0, len(res)/2)
	for i := 0; i < len(res); i += 2 {
		out = append(out, broker.PresenceEntry{Client: res[i], User: res[i+1]})
	}
	slices.SortFunc(out, func(x, y broker.PresenceEntry) int {
		if c := strings.Compare(x.User, y.User); c != 0 {
			return c
		}
		return strings.Compare(x.Client, y.Client)
	})
	return out, nil
}

// Presence events travel on the channel's pub/sub channel, next to its
// publications, as "join <user length>\n<user><client>" or "leave ...":
// a publication's payload starts with a digit, an event with a letter.

// HandlePresenceEvents implements broker.PresenceEvents.
func (b *Broker) HandlePresenceEvents(h broker.PresenceEventHandler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = h
}

// PublishPresenceEvent implements broker.PresenceEvents with one PUBLISH.
func (b *Broker) PublishPresenceEvent(ctx context.Context, e broker.PresenceEvent) error {
	if b.isClosed() {
		return broker.ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout)
	defer cancel()
	if err := b.rdb.Publish(ctx, b.pubPrefix()+e.Channel, encodeEvent(e)).Err(); err != nil {
		return b.fail("publish presence event", err)
	}
	return nil
}

func encodeEvent(e broker.PresenceEvent) string {
	kind := "join "
	if e.Leave {
		kind = "leave "
	}
	return kind + strconv.Itoa(len(e.Entry.User)) + "\n" + e.Entry.User + e.Entry.Client
}

// decodeEvent reads a payload encodeEvent wrote; ok is false for anything
// else.
func decodeEvent(channel, payload string) (broker.PresenceEvent, bool) {
	e := broker.PresenceEvent{Channel: channel}
	rest, join := strings.CutPrefix(payload, "join ")
	if !join {
		if rest, e.Leave = strings.CutPrefix(payload, "leave "); !e.Leave {
			return e, false
		}
	}
	head, body, ok := strings.Cut(rest, "\n")
	n, err := strconv.Atoi(head)
	if !ok || err != nil || n < 0 || n > len(body) {
		return e, false
	}
	e.Entry = broker.PresenceEntry{User: body[:n], Client: body[n:]}
	return e, true
}

// heardEvent hands e to the handler if this node hears its channel.
func (b *Broker) heardEvent(e broker.PresenceEvent) {
	b.mu.Lock()
	h := b.events
	if b.subs[e.Channel] == nil {
		h = nil
	}
	b.mu.Unlock()
	if h != nil {
		h(e)
	}
}

var (
	_ broker.Presence       = (*Broker)(nil)
	_ broker.PresenceEvents = (*Broker)(nil)
)
