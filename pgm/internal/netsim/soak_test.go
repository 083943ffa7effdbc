package netsim_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/internal/netsim"
	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/source"
	"github.com/tickcast/tickcast/pgm/wire"
)

// soakPackets is how many packets each soak run publishes: 10 000, 2 000
// with -short, or $PGM_SOAK_PACKETS for a long soak.
func soakPackets() int {
	if n, err := strconv.Atoi(os.Getenv("PGM_SOAK_PACKETS")); err == nil && n > 0 {
		return n
	}
	if testing.Short() {
		return 2000
	}
	return 10000
}

// chaos is a random network: each packet type lost with its probability,
// some packets delayed (reordered) or duplicated.
func chaos(seed uint64, loss float64, reorder, dup float64) netsim.Rule {
	rng := rand.New(rand.NewPCG(seed, 1))
	return func(f *netsim.Flight) netsim.Fate {
		var fa netsim.Fate
		fa.Drop = rng.Float64() < loss
		if rng.Float64() < reorder {
			fa.Delay = time.Duration(rng.IntN(3000)) * µs
		}
		if rng.Float64() < dup {
			fa.Copies = 1
		}
		return fa
	}
}

func fastTimers(seed uint64, window int) receiver.Config {
	return receiver.Config{
		WindowSQNs:         window,
		NAKBackoffInterval: 5 * ms,
		NAKRepeatInterval:  20 * ms,
		NAKRDataInterval:   20 * ms,
		Rand:               rand.NewPCG(seed, 2),
	}
}

// With loss the windows can absorb, every packet arrives: thousands of
// packets, 5% loss of every packet type (data, repairs, NAKs, NCFs, SPMs),
// reordering and duplicates, several receivers, several seeds. Nothing is
// reported lost, everything is delivered once, in order.
func TestSoakRepairable(t *testing.T) {
	count := soakPackets()
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			src := source.Config{Rate: -1, WindowSQNs: 4000, FirstSQN: 0xFFFFFFFF - uint32(seed*1000)}
			n := newNet(t, src, fastTimers(seed, 2000), fastTimers(seed+100, 2000))
			n.Latency = 300 * µs
			n.Rule = chaos(seed, 0.05, 0.02, 0.01)
			n.PublishEvery(0, 200*µs, count, 64)
			n.Run(2 * time.Minute)
			for i := range n.Nodes {
				s := check(t, n, i, src.FirstSQN)
				if s.Lost != 0 || s.Delivered != count || s.Join != src.FirstSQN {
					t.Errorf("receiver %d: %+v", i, s)
				}
			}
		})
	}
}

// With loss beyond repair (heavy loss, small windows, repairs often lost,
// applications that stop reading for a while), the promise still holds:
// every sequence number from the join point is delivered or reported lost,
// exactly once, in order.
func TestSoakUnrepairable(t *testing.T) {
	count := soakPackets()
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			src := source.Config{Rate: -1, WindowSQNs: 150, FirstSQN: 0x7FFFF000}
			n := newNet(t, src, fastTimers(seed, 100), fastTimers(seed+100, 300))
			n.Latency = 300 * µs
			n.Rule = chaos(seed, 0.3, 0.05, 0.02)
			n.PublishEvery(0, 100*µs, count, 64)
			rng := rand.New(rand.NewPCG(seed, 3))
			for i := range 20 { // receiver 0 stops reading now and then
				start := time.Duration(rng.IntN(2000)) * ms
				n.At(start, func() { n.Nodes[0].Paused = true })
				n.At(start+time.Duration(rng.IntN(50))*ms, func() { n.Resume(0) })
				_ = i
			}
			n.At(3*time.Second, func() { n.Resume(0) })
			n.Run(2 * time.Minute)
			for i := range n.Nodes {
				s := check(t, n, i, src.FirstSQN)
				if s.Lost == 0 || s.Delivered+s.Lost != count {
					t.Errorf("receiver %d: %+v", i, s)
				}
				t.Logf("receiver %d: joined at %#x, %d delivered (%d repaired), %d lost in %d events",
					i, s.Join, s.Delivered, s.Repairs, s.Lost, len(s.Losses))
			}
		})
	}
}

// The stats agree with the events: what Next reported is what the
// counters say.
func TestStatsMatchEvents(t *testing.T) {
	n := newNet(t, source.Config{Rate: -1, WindowSQNs: 100}, fastTimers(1, 50))
	n.Rule = chaos(9, 0.3, 0.05, 0.02)
	n.PublishEvery(0, 100*µs, 5000, 64)
	n.Run(time.Minute)
	s := check(t, n, 0, 0)
	st := n.Nodes[0].R.Stats()
	if st.Delivered != uint64(s.Delivered) || st.LostSQNs != uint64(s.Lost) || st.LossEvents != uint64(len(s.Losses)) {
		t.Errorf("stats %+v\nsummary %+v", st, s)
	}
	if got := len(n.Flights(wire.TypeNAK, 0)); uint64(got) != st.NAKsSent {
		t.Errorf("%d NAKs on the wire, %d counted", got, st.NAKsSent)
	}
}
