package rampart

// subs is a connection's subscriptions: a short list, since most
// connections hold a few (limits.max_subscriptions bounds it). A slice
// costs a fraction of a map's memory on an idle connection, and a linear
// scan of a few entries is as fast as hashing.
type subs []sub

type sub struct {
	channel string
	tracked bool // presence is kept for it
}

func (s subs) find(channel string) int {
	for i := range s {
		if s[i].channel == channel {
			return i
		}
	}
	return -1
}

// remove deletes channel and reports whether it was there and tracked.
func (s *subs) remove(channel string) (found, tracked bool) {
	i := s.find(channel)
	if i < 0 {
		return false, false
	}
	tracked = (*s)[i].tracked
	last := len(*s) - 1
	(*s)[i] = (*s)[last]
	(*s)[last] = sub{}
	*s = (*s)[:last]
	return true, tracked
}
