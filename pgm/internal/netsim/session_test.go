package netsim_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/internal/netsim"
	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/wire"
)

// An application that stops reading for longer than its window loses the
// oldest packets and is told exactly which, in place.
func TestReceiverPausedPastWindow(t *testing.T) {
	rcv := rcvConfig()
	rcv.WindowSQNs = 100
	n := newNet(t, srcConfig(), rcv)
	n.Nodes[0].Paused = true
	n.PublishEvery(0, ms, 300, 100)
	n.At(time.Second, func() { n.Resume(0) })
	n.Run(2 * time.Second)
	s := check(t, n, 0, 0)
	if s.Lost != 200 || len(s.Losses) != 1 || s.Losses[0].SQN != 0 || s.Losses[0].Count != 200 || s.Delivered != 100 {
		t.Errorf("%+v", s)
	}
	if st := n.Nodes[0].R.Stats(); st.EvictedData != 200 {
		t.Errorf("stats %+v", st)
	}
}

// A receiver that starts hearing the session in the middle joins at the
// first packet it hears: no NAKs for history, no loss reported.
func TestLateJoin(t *testing.T) {
	n := newNet(t, srcConfig(), rcvConfig(), rcvConfig())
	n.Latency = ms
	deafUntil := at(500 * ms)
	n.Rule = func(f *netsim.Flight) netsim.Fate { return netsim.Fate{Drop: f.To == 1 && f.Sent.Before(deafUntil)} }
	n.PublishEvery(0, ms, 1000, 100)
	n.Run(3 * time.Second)
	check(t, n, 0, 0)
	s := check(t, n, 1, 0)
	if s.Join != 500 || s.Lost != 0 || s.Delivered != 500 {
		t.Errorf("late joiner: %+v", s)
	}
	if naks := n.Flights(wire.TypeNAK, 1); len(naks) != 0 {
		t.Errorf("late joiner sent %d NAKs", len(naks))
	}
	// Joined by an SPM: an idle source's ambient SPM defines the window.
	n = newNet(t, srcConfig(), rcvConfig())
	n.Rule = func(f *netsim.Flight) netsim.Fate { return netsim.Fate{Drop: f.Sent.Before(at(time.Minute))} }
	n.Publish(10, 100)
	n.At(2*time.Minute, func() { n.Publish(10, 100) })
	n.Run(3 * time.Minute)
	s = check(t, n, 0, 0)
	if s.Join != 10 || s.Delivered != 10 || s.Lost != 0 {
		t.Errorf("joined by an SPM: %+v", s)
	}
}

// Sequence numbers starting near 2^32 wrap during loss and repair.
func TestWrapDuringRepair(t *testing.T) {
	src := srcConfig()
	src.FirstSQN = 0xFFFFFE00
	n := newNet(t, src, rcvConfig())
	n.Latency = ms
	n.Rule = netsim.Random(1, map[wire.Type]float64{wire.TypeODATA: 0.1, wire.TypeNAK: 0.1, wire.TypeRDATA: 0.1})
	n.PublishEvery(0, ms, 1000, 100)
	n.Run(time.Minute)
	s := check(t, n, 0, src.FirstSQN)
	if s.Lost != 0 || s.Repairs < 50 || s.Join != 0xFFFFFE00 || s.End != 0x1E8 {
		t.Errorf("%+v", s)
	}
}

// Several receivers with different loss: each gets everything; the NCFs
// one receiver's NAK triggers suppress the others' NAKs for the same sqns.
func TestSeveralReceivers(t *testing.T) {
	loss := []float64{0, 0.01, 0.05, 0.2}
	var cfgs []receiver.Config
	for i := range loss {
		c := rcvConfig()
		c.Rand = rand.NewPCG(uint64(i), 99) // random back-offs: suppression works
		cfgs = append(cfgs, c)
	}
	n := newNet(t, srcConfig(), cfgs...)
	n.Latency = 500 * µs
	rng := rand.New(rand.NewPCG(7, 7))
	n.Rule = func(f *netsim.Flight) netsim.Fate {
		if f.To >= 0 && f.Type == wire.TypeODATA {
			return netsim.Fate{Drop: rng.Float64() < loss[f.To]}
		}
		return netsim.Fate{}
	}
	n.PublishEvery(0, ms, 5000, 200)
	n.Run(time.Minute)
	for i := range loss {
		s := check(t, n, i, 0)
		if s.Lost != 0 || s.Delivered != 5000 {
			t.Errorf("receiver %d: %+v", i, s)
		}
		naks := n.Nodes[i].R.Stats().NAKSQNsSent
		t.Logf("receiver %d (%.0f%% loss): %d repairs, %d sqns NAKed", i, 100*loss[i], s.Repairs, naks)
	}
}

// Garbage on the network (corrupt packets, wrong ports, forged sessions and
// NAKs) is counted and changes nothing for the real session.
func TestGarbage(t *testing.T) {
	rcv := rcvConfig()
	rcv.MaxPeers = 4
	n := newNet(t, srcConfig(), rcv)
	n.Latency = ms
	n.PublishEvery(0, ms, 1000, 100)
	rng := rand.New(rand.NewPCG(3, 3))
	tsi := n.Src.TSI()
	var garbage [][]byte
	for range 50 {
		b := make([]byte, rng.IntN(100))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		garbage = append(garbage, b)
	}
	wrongPort := &wire.Data{Type: wire.TypeODATA, TSI: tsi, DataPort: netsim.DataPort + 1, SQN: 5000, Payload: []byte("x")}
	otherTSI := &wire.Data{Type: wire.TypeODATA, TSI: wire.TSI{SPort: 1}, DataPort: netsim.DataPort, SQN: 1, Payload: []byte("x")}
	badNLA := &wire.NAK{Type: wire.TypeNAK, TSI: tsi, DataPort: netsim.DataPort, SQN: 10, Source: netsim.OutsiderAddr, Group: netsim.Group}
	neverSent := &wire.NAK{Type: wire.TypeNAK, TSI: tsi, DataPort: netsim.DataPort, SQN: 1 << 20, Source: netsim.SourceAddr, Group: netsim.Group}
	for _, p := range []interface{ Append([]byte) ([]byte, error) }{wrongPort, otherTSI, badNLA, neverSent} {
		b, err := p.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		garbage = append(garbage, b)
	}
	for i := range 1000 {
		n.At(time.Duration(i)*ms+300*µs, func() {
			b := garbage[rng.IntN(len(garbage))]
			n.Inject(0, b)
			n.Inject(netsim.SourceNode, b)
		})
	}
	n.Run(time.Minute)
	s := check(t, n, 0, 0)
	if s.Lost != 0 || s.Delivered != 1000 {
		t.Errorf("%+v", s)
	}
	rs, ss := n.Nodes[0].R.Stats(), n.Src.Stats()
	if rs.DroppedParse == 0 || rs.DroppedPort == 0 || ss.IgnoredParse == 0 || ss.IgnoredNLA == 0 || ss.RepairsNeverSent == 0 || ss.RDATASent != 0 {
		t.Errorf("receiver %+v\nsource %+v", rs, ss)
	}
}
