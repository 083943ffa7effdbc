package zmq

import (
	"testing"

	"github.com/tickcast/tickcast/internal/ctxtest"
)

// Closed sockets leave nothing registered on the context they were started
// with.
func TestCloseUnregistersFromTheContext(t *testing.T) {
	ctx := ctxtest.NewAfterFuncCounter()
	ep := testEndpoint("epgm")
	sub, err := NewSub(ctx, ep, SubConfig{})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := NewPub(ctx, ep, PubConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Live() == 0 {
		t.Fatal("nothing registered on the context")
	}
	pub.Close()
	sub.Close()
	if n := ctx.Live(); n != 0 {
		t.Fatalf("%d functions still registered after Close", n)
	}
}
