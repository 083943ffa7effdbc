package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/wire"
)

// testPort returns a port per test, so that tests in parallel packages
// and leftovers of earlier runs do not meet.
var portSeq atomic.Uint32

func testEndpoint(t *testing.T, network string) Endpoint {
	t.Helper()
	p := 20000 + (os.Getpid()+int(portSeq.Add(1)))%1000 // a range of its own per package
	ep, err := ParseEndpoint(fmt.Sprintf("%s://127.0.0.1;239.192.7.%d:%d", network, 1+p%200, p))
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// sliceFeeder hands out APDUs from a list.
type sliceFeeder struct {
	mu    sync.Mutex
	apdus [][]byte
}

func (f *sliceFeeder) push(a []byte) {
	f.mu.Lock()
	f.apdus = append(f.apdus, a)
	f.mu.Unlock()
}

func (f *sliceFeeder) Fill(dst [][]byte) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for n < len(dst) && len(f.apdus) > 0 {
		dst[n] = append(dst[n][:0], f.apdus[0]...)
		f.apdus = f.apdus[1:]
		n++
	}
	return n
}

// numbered makes APDU i: its number, then filler up to size.
func numbered(i, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b, uint32(i))
	for j := 4; j < size; j++ {
		b[j] = byte(i + j)
	}
	return b
}

// collector is a Consumer that records data and losses.
type collector struct {
	mu     sync.Mutex
	room   int // events it takes before it has no room; <0: unlimited
	data   [][]byte
	losses []receiver.Event
	peers  int
	notify chan struct{}
	others int      // data of other sessions than only
	only   wire.TSI // if set, the session whose data is kept
}

func newCollector() *collector { return &collector{room: -1, notify: make(chan struct{}, 1)} }

func (c *collector) Room() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.room != 0
}

func (c *collector) Consume(now time.Time, ev *receiver.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.room > 0 {
		c.room--
	}
	switch ev.Kind {
	case receiver.EventData:
		if c.only != (wire.TSI{}) && ev.TSI != c.only {
			c.others++
			return
		}
		c.data = append(c.data, bytes.Clone(ev.Payload))
	case receiver.EventLoss:
		c.losses = append(c.losses, *ev)
	case receiver.EventPeerNew:
		c.peers++
	}
}

func (c *collector) Flush(time.Time) {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.data)
}

// waitFor waits until cond holds, up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return c
}
