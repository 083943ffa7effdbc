// Package ctxtest has contexts for tests of lifecycles.
package ctxtest

import (
	"sync"
	"time"
)

// AfterFuncCounter is a context that is never done and counts the
// functions registered on it with context.AfterFunc (which uses a context's
// own AfterFunc method when it has one) and not yet unregistered: after an
// object started with it is closed, Live should be back to what it was.
type AfterFuncCounter struct {
	done       chan struct{} // never closed
	mu         sync.Mutex
	registered int
}

// NewAfterFuncCounter returns a context with nothing registered.
func NewAfterFuncCounter() *AfterFuncCounter { return &AfterFuncCounter{done: make(chan struct{})} }

func (c *AfterFuncCounter) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *AfterFuncCounter) Done() <-chan struct{}       { return c.done }
func (c *AfterFuncCounter) Err() error                  { return nil }
func (c *AfterFuncCounter) Value(any) any               { return nil }

// AfterFunc registers f, which never runs: the context is never done.
func (c *AfterFuncCounter) AfterFunc(f func()) func() bool {
	c.mu.Lock()
	c.registered++
	c.mu.Unlock()
	var once sync.Once
	return func() bool {
		stopped := false
		once.Do(func() {
			c.mu.Lock()
			c.registered--
			c.mu.Unlock()
			stopped = true
		})
		return stopped
	}
}

// Live returns how many registered functions were not unregistered.
func (c *AfterFuncCounter) Live() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.registered
}
