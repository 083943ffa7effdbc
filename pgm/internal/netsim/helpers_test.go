package netsim_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/internal/netsim"
	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/source"
	"github.com/tickcast/tickcast/pgm/wire"
)

const (
	ms = time.Millisecond
	µs = time.Microsecond
)

// constRand makes every NAK back-off 1 µs + v mod (NAK_BO_IVL - 1 µs).
type constRand uint64

func (c constRand) Uint64() uint64 { return uint64(c) }

// srcConfig: no rate limit, a 1000-packet window, default SPM timers.
func srcConfig() source.Config { return source.Config{Rate: -1, WindowSQNs: 1000} }

// rcvConfig: a 1000-packet window, libzmq's NAK timers, and every NAK
// back-off exactly 10 ms so that repair times are exact.
func rcvConfig() receiver.Config {
	return receiver.Config{WindowSQNs: 1000, Rand: constRand(10*ms - µs)}
}

func newNet(t testing.TB, src source.Config, rcvs ...receiver.Config) *netsim.Net {
	t.Helper()
	n, err := netsim.New(src, rcvs...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// check runs Net.Check for receiver i and fails the test on an error. It
// also requires the session to be covered up to everything published.
func check(t testing.TB, n *netsim.Net, i int, first uint32) netsim.Summary {
	t.Helper()
	s, err := n.Check(i, first)
	if err != nil {
		t.Fatal(err)
	}
	if want := first + uint32(n.Published()); s.End != want {
		t.Fatalf("receiver %d covered %d..%d, want up to %d (%d delivered, %d lost)", i, s.Join, s.End-1, want-1, s.Delivered, s.Lost)
	}
	return s
}

// at returns a time relative to the simulation's start.
func at(d time.Duration) time.Time { return netsim.Epoch.Add(d) }

// sentAt lists when packets of type typ from node from went out, as
// offsets from the start, with their sequence numbers.
func sentAt(n *netsim.Net, typ wire.Type, from int) string {
	var b strings.Builder
	for _, f := range n.Flights(typ, from) {
		fmt.Fprintf(&b, "%v%v ", f.Sent.Sub(netsim.Epoch), f.SQNs)
	}
	return strings.TrimSpace(b.String())
}

// eventAt returns when receiver i got the data or loss event for sqn.
func eventAt(t testing.TB, n *netsim.Net, i int, kind receiver.EventKind, sqn uint32) time.Duration {
	t.Helper()
	for _, ev := range n.Nodes[i].Events {
		if ev.Kind == kind && ev.SQN == sqn {
			return ev.At.Sub(netsim.Epoch)
		}
	}
	t.Fatalf("receiver %d: no %v event for %d", i, kind, sqn)
	return 0
}
