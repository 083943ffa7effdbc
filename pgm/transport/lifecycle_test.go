package transport

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickcast/tickcast/internal/ctxtest"
)

// A closed Sender or Receiver leaves nothing registered on the context it
// was started with: a long-lived context (a server's) does not keep closed
// sockets reachable until it ends.
func TestCloseUnregistersFromTheContext(t *testing.T) {
	ctx := ctxtest.NewAfterFuncCounter()
	ep := testEndpoint(t, "epgm")
	r, err := NewReceiver(ctx, ep, ReceiverConfig{}, &countConsumer{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSender(ctx, ep, SenderConfig{}, &sliceFeeder{})
	if err != nil {
		t.Fatal(err)
	}
	if n := ctx.Live(); n != 2 {
		t.Fatalf("%d functions registered on the context, want 2", n)
	}
	s.Close(time.Millisecond)
	r.Close()
	if n := ctx.Live(); n != 0 {
		t.Fatalf("%d functions still registered after Close", n)
	}
}

// flushCounter is a Consumer that counts its Flush calls.
type flushCounter struct {
	countConsumer
	flushes atomic.Int64
}

func (f *flushCounter) Flush(time.Time) { f.flushes.Add(1) }

// Wake runs a round, and so calls Flush, even when the consumer never said
// it had no room: a consumer whose Flush could not hand its data over (its
// reader was behind) relies on it once the reader makes room, when no
// datagram may come any more to wake the Receiver. Before, Wake did nothing
// unless Room had said no, and pgm/zmq lost the end of a feed about 1 run
// in 15 (endpoint's TestPGMFeed).
func TestWakeRunsARoundWhateverRoomSaid(t *testing.T) {
	c := &flushCounter{}
	r, err := NewReceiver(ctx(t), testEndpoint(t, "epgm"), ReceiverConfig{}, c)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	time.Sleep(50 * time.Millisecond) // no traffic: the Receiver waits in a read
	before := c.flushes.Load()
	r.Wake()
	waitFor(t, 5*time.Second, "a round after Wake", func() bool { return c.flushes.Load() > before })
}
