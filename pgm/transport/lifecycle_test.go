package transport

import (
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
