package client

// SetHeldLimit changes how many live publications a subscription holds
// while it fills a gap, for a test; the returned func restores it. Set it
// before the client dials, and restore it after the client is closed.
func SetHeldLimit(n int) (restore func()) {
	old := heldLimit
	heldLimit = n
	return func() { heldLimit = old }
}

// Held returns how many live publications sub holds while it fills a gap,
// and the offset of the last one it could not hold (0: none).
func Held(sub *Subscription) (n int, dropped uint64) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.fill == nil {
		return 0, 0
	}
	if d := sub.fill.dropped; d != nil {
		dropped = d.Offset
	}
	return len(sub.fill.held), dropped
}
