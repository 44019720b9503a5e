// Package joinleave coalesces the join and leave events of each channel
// into bounded batches: at most one batch per channel per window, each
// listing at most a set number of clients, or saying only that more than
// that changed.
//
// It decides how events are netted and batched; it knows nothing of who
// may receive a batch, nor how one travels (the server decides both).
package joinleave
