// Package peerset keeps a publisher's set of subscribed peers, as the
// zmtp and inproc publishers share it: read on the send path without a lock
// (a copy-on-write slice), changed under the publisher's lock, and waited
// for (WaitSubscribers) through a channel closed at every change.
package peerset

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// Set is a set of peers. The zero Set is empty and ready.
type Set[T comparable] struct {
	list atomic.Pointer[[]T]
	// changed is closed, and replaced, whenever the set changes or the
	// publisher closes (Wake). Guarded by the publisher's lock.
	changed chan struct{}
}

// Load returns the peers now; the slice must not be changed. It takes no
// lock.
func (s *Set[T]) Load() []T {
	if l := s.list.Load(); l != nil {
		return *l
	}
	return nil
}

// Len returns how many peers there are.
func (s *Set[T]) Len() int { return len(s.Load()) }

// Update adds x (on) or removes it, and wakes the waiters if that changed
// the set. The caller holds the publisher's lock.
func (s *Set[T]) Update(x T, on bool) {
	old := s.Load()
	i := slices.Index(old, x)
	switch {
	case on && i < 0:
		l := append(slices.Clip(old), x) // a new array: readers keep the old one
		s.list.Store(&l)
	case !on && i >= 0:
		l := slices.Concat(old[:i], old[i+1:])
		s.list.Store(&l)
	default:
		return
	}
	s.Wake()
}

// Clear empties the set without waking anyone. The caller holds the
// publisher's lock.
func (s *Set[T]) Clear() { s.list.Store(nil) }

// Wake wakes the waiters (the publisher closed, say). The caller holds the
// publisher's lock.
func (s *Set[T]) Wake() {
	if s.changed != nil {
		close(s.changed)
	}
	s.changed = make(chan struct{})
}

// Wait blocks until the set has at least n peers (nil), ctx is done (its
// error), or closed says the publisher is closed (errClosed), checking at
// every change; mu is the publisher's lock.
func (s *Set[T]) Wait(ctx context.Context, mu sync.Locker, n int, closed func() bool, errClosed error) error {
	for {
		mu.Lock()
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		k, changed := s.Len(), s.changed
		mu.Unlock()
		switch {
		case closed():
			return errClosed
		case k >= n:
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
