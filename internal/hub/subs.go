package hub

// Subs is a connection's subscriptions: a short list, since most
// connections hold a few (limits.max_subscriptions bounds it). A slice
// costs a fraction of a map's memory on an idle connection, and a linear
// scan of a few entries is as fast as hashing.
type Subs []Sub

// Sub is one subscription of a connection.
type Sub struct {
	Channel   string
	Tracked   bool // presence is kept for it
	Server    bool // made by the server (server-side), not by the client
	JoinLeave bool // its join was announced: its end is announced too
}

// Find returns channel's index, or -1.
func (s Subs) Find(channel string) int {
	for i := range s {
		if s[i].Channel == channel {
			return i
		}
	}
	return -1
}

// Remove deletes channel and returns its subscription, if it was there.
func (s *Subs) Remove(channel string) (sb Sub, found bool) {
	i := s.Find(channel)
	if i < 0 {
		return Sub{}, false
	}
	sb = (*s)[i]
	last := len(*s) - 1
	(*s)[i] = (*s)[last]
	(*s)[last] = Sub{}
	*s = (*s)[:last]
	return sb, true
}
