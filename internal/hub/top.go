package hub

import (
	"cmp"
	"slices"
)

// ChannelStat is one channel this node hears.
type ChannelStat struct {
	Channel      string
	Subscribers  int    // local subscribers, pending ones included
	Publications uint64 // delivered here since this node began to hear the channel
}

// Top returns up to n channels with the most local subscribers (then the
// most publications), busiest first. It read-locks one shard at a time
// and keeps at most n entries, so it costs one pass over the channels.
func (h *Hub[S]) Top(n int) []ChannelStat {
	if n <= 0 {
		return nil
	}
	busier := func(a, b ChannelStat) int {
		if c := cmp.Compare(b.Subscribers, a.Subscribers); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Publications, a.Publications); c != 0 {
			return c
		}
		return cmp.Compare(a.Channel, b.Channel)
	}
	top := make([]ChannelStat, 0, n+1)
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		for name, hc := range sh.chans {
			st := ChannelStat{Channel: name, Subscribers: hc.refs, Publications: hc.pubs.Load()}
			if len(top) == n && busier(st, top[n-1]) >= 0 {
				continue
			}
			i, _ := slices.BinarySearchFunc(top, st, busier)
			top = slices.Insert(top, i, st)
			if len(top) > n {
				top = top[:n]
			}
		}
		sh.mu.RUnlock()
	}
	return top
}
