package peerset

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A set changes under the publisher's lock and is read without it: a
// reader keeps the peers it loaded whatever changes after; Wait returns once
// there are enough peers, when the publisher closes, or when ctx is done.
func TestASetIsWaitedForAndReadWithoutALock(t *testing.T) {
	var mu sync.Mutex
	var s Set[int]
	var closed atomic.Bool
	errClosed := errors.New("closed")
	done := make(chan error, 1)
	go func() { done <- s.Wait(context.Background(), &mu, 2, closed.Load, errClosed) }()

	mu.Lock()
	s.Update(1, true)
	mu.Unlock()
	before := s.Load()
	mu.Lock()
	s.Update(2, true)
	s.Update(2, true) // already in: no change
	mu.Unlock()
	if err := <-done; err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if len(before) != 1 || s.Len() != 2 {
		t.Fatalf("loaded %v before the change, %v after", before, s.Load())
	}
	mu.Lock()
	s.Update(1, false)
	mu.Unlock()
	if got := s.Load(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("after removing 1: %v", got)
	}

	go func() { done <- s.Wait(context.Background(), &mu, 5, closed.Load, errClosed) }()
	time.Sleep(10 * time.Millisecond) // (a late Wake is fine: Wait checks closed first)
	closed.Store(true)
	mu.Lock()
	s.Wake()
	mu.Unlock()
	if err := <-done; !errors.Is(err, errClosed) {
		t.Fatalf("Wait after close: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	closed.Store(false)
	if err := s.Wait(ctx, &mu, 5, closed.Load, errClosed); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a done context: %v", err)
	}
}
