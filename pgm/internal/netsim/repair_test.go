package netsim_test

import (
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/internal/netsim"
	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/wire"
)

// Without loss everything arrives once, in order, and nobody NAKs.
func TestNoLoss(t *testing.T) {
	n := newNet(t, srcConfig(), rcvConfig(), rcvConfig())
	n.Latency = 200 * µs
	n.PublishEvery(0, ms, 1000, 100)
	n.Run(2 * time.Second)
	for i := range n.Nodes {
		s := check(t, n, i, 0)
		if s.Join != 0 || s.Delivered != 1000 || s.Lost != 0 || s.Repairs != 0 {
			t.Errorf("receiver %d: %+v", i, s)
		}
	}
	if naks := n.Flights(wire.TypeNAK, netsim.AnyNode); len(naks) != 0 {
		t.Errorf("%d NAKs", len(naks))
	}
}

// One lost ODATA is repaired with exactly the configured timing, 1 ms
// one-way latency: ODATA 6 arrives at 1 ms and reveals the gap; the back-off
// (10 ms) ends at 11 ms with a NAK; the source gets it at 12 ms and sends the
// NCF and the RDATA at once; the receiver delivers 5 and the data held
// behind it at 13 ms.
func TestSingleLossRepaired(t *testing.T) {
	n := newNet(t, srcConfig(), rcvConfig())
	n.Latency = ms
	n.Rule = netsim.Drop(wire.TypeODATA, 5, 1, netsim.AnyNode)
	n.Publish(10, 100)
	n.Run(time.Second)
	check(t, n, 0, 0)
	if got, want := sentAt(n, wire.TypeNAK, 0), "11ms[5]"; got != want {
		t.Errorf("NAKs: %s, want %s", got, want)
	}
	if got, want := sentAt(n, wire.TypeNCF, netsim.SourceNode), "12ms[5]"; got != want {
		t.Errorf("NCFs: %s, want %s", got, want)
	}
	if got, want := sentAt(n, wire.TypeRDATA, netsim.SourceNode), "12ms[5]"; got != want {
		t.Errorf("RDATA: %s, want %s", got, want)
	}
	if at := eventAt(t, n, 0, receiver.EventData, 5); at != 13*ms {
		t.Errorf("5 delivered at %v", at)
	}
	if at := eventAt(t, n, 0, receiver.EventData, 9); at != 13*ms {
		t.Errorf("9 delivered at %v", at)
	}
}

// A burst of 100 losses goes out as two NAKs (63 + 37 sqns) and is repaired
// in one round trip.
func TestBurstLoss(t *testing.T) {
	n := newNet(t, srcConfig(), rcvConfig())
	n.Latency = ms
	n.Rule = func(f *netsim.Flight) netsim.Fate {
		return netsim.Fate{Drop: f.Type == wire.TypeODATA && f.SQNs[0] >= 100 && f.SQNs[0] < 200}
	}
	n.Publish(300, 100)
	n.Run(time.Second)
	s := check(t, n, 0, 0)
	if s.Repairs != 100 || s.Lost != 0 {
		t.Errorf("%+v", s)
	}
	if got, want := sentAt(n, wire.TypeNAK, 0), "11ms[100 101 102 103 104 105 106 107 108 109 110 111 112 113 114 115 116 117 118 119 120 121 122 123 124 125 126 127 128 129 130 131 132 133 134 135 136 137 138 139 140 141 142 143 144 145 146 147 148 149 150 151 152 153 154 155 156 157 158 159 160 161 162] 11ms[163 164 165 166 167 168 169 170 171 172 173 174 175 176 177 178 179 180 181 182 183 184 185 186 187 188 189 190 191 192 193 194 195 196 197 198 199]"; got != want {
		t.Errorf("NAKs: %s", got)
	}
	if at := eventAt(t, n, 0, receiver.EventData, 299); at != 13*ms {
		t.Errorf("299 delivered at %v", at)
	}
}

// The last packet before a pause is lost: nothing after it reveals the gap
// but the heartbeat SPM 100 ms after the data, whose lead is NAKed.
func TestTailLossRepairedByHeartbeat(t *testing.T) {
	n := newNet(t, srcConfig(), rcvConfig())
	n.Latency = ms
	n.Rule = netsim.Drop(wire.TypeODATA, 9, 1, netsim.AnyNode)
	n.Publish(10, 100)
	n.Run(time.Second)
	check(t, n, 0, 0)
	if got, want := sentAt(n, wire.TypeNAK, 0), "111ms[9]"; got != want {
		t.Errorf("NAKs: %s, want %s", got, want)
	}
	if at := eventAt(t, n, 0, receiver.EventData, 9); at != 113*ms {
		t.Errorf("9 delivered at %v", at)
	}
}

// A lost NAK, a lost NCF+RDATA, a lost RDATA: each costs one retry, after
// NAK_RPT_IVL (no NCF) or NAK_RDATA_IVL (NCF, no RDATA) plus a back-off.
func TestRetries(t *testing.T) {
	for _, c := range []struct {
		name      string
		rule      netsim.Rule
		naks      string
		delivered time.Duration
	}{
		// NAK at 11 ms lost; WAIT_NCF ends at 211 ms, back-off to 221 ms.
		{"NAK lost", netsim.Drop(wire.TypeNAK, 5, 1, netsim.SourceNode), "11ms[5] 221ms[5]", 223 * ms},
		// The NCF and RDATA sent at 12 ms are lost: the same.
		{"NCF and RDATA lost", netsim.Rules(netsim.Drop(wire.TypeNCF, 5, 1, netsim.AnyNode), netsim.Drop(wire.TypeRDATA, 5, 1, netsim.AnyNode)),
			"11ms[5] 221ms[5]", 223 * ms},
		// The NCF arrives at 13 ms, WAIT_DATA ends at 213 ms, back-off to 223 ms.
		{"RDATA lost", netsim.Drop(wire.TypeRDATA, 5, 1, netsim.AnyNode), "11ms[5] 223ms[5]", 225 * ms},
		// Only the NCF is lost: the RDATA repairs anyway.
		{"NCF lost", netsim.Drop(wire.TypeNCF, 5, 1, netsim.AnyNode), "11ms[5]", 13 * ms},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := newNet(t, srcConfig(), rcvConfig())
			n.Latency = ms
			n.Rule = netsim.Rules(netsim.Drop(wire.TypeODATA, 5, 1, netsim.AnyNode), c.rule)
			n.Publish(10, 100)
			n.Run(time.Second)
			check(t, n, 0, 0)
			if got := sentAt(n, wire.TypeNAK, 0); got != c.naks {
				t.Errorf("NAKs: %s, want %s", got, c.naks)
			}
			if at := eventAt(t, n, 0, receiver.EventData, 5); at != c.delivered {
				t.Errorf("5 delivered at %v, want %v", at, c.delivered)
			}
		})
	}
}

// Reordering within the back-off costs nothing; beyond it, a NAK and a
// repair, and the late original is dropped as a duplicate.
func TestReordering(t *testing.T) {
	for _, c := range []struct {
		delay time.Duration
		naks  int
	}{{5 * ms, 0}, {30 * ms, 1}} {
		n := newNet(t, srcConfig(), rcvConfig())
		n.Latency = ms
		n.Rule = func(f *netsim.Flight) netsim.Fate {
			if f.Type == wire.TypeODATA && f.SQNs[0]%10 == 5 {
				return netsim.Fate{Delay: c.delay}
			}
			return netsim.Fate{}
		}
		n.PublishEvery(0, 2*ms, 100, 100)
		n.Run(time.Second)
		s := check(t, n, 0, 0)
		if got := len(n.Flights(wire.TypeNAK, 0)); got != c.naks*10 || s.Lost != 0 {
			t.Errorf("delay %v: %d NAKs, %+v", c.delay, got, s)
		}
	}
}

// Every packet duplicated: each sqn is still delivered once.
func TestDuplication(t *testing.T) {
	n := newNet(t, srcConfig(), rcvConfig())
	n.Rule = netsim.Rules(
		func(*netsim.Flight) netsim.Fate { return netsim.Fate{Copies: 1} },
		netsim.Drop(wire.TypeODATA, 50, 1, netsim.AnyNode))
	n.PublishEvery(0, ms, 100, 100)
	n.Run(time.Second)
	s := check(t, n, 0, 0)
	if s.Delivered != 100 {
		t.Errorf("%+v", s)
	}
	// A copy of delivered data is behind the window; of held data, a duplicate.
	if st := n.Nodes[0].R.Stats(); st.DroppedDuplicates+st.DroppedOld < 100 {
		t.Errorf("duplicates dropped: %d + %d", st.DroppedDuplicates, st.DroppedOld)
	}
}

// A source that never answers NAKs: the receiver gives the sqn up after
// NAK_NCF_RETRIES NAKs, at exactly 1 ms + 50 × (10 ms back-off + 200 ms
// NAK_RPT_IVL), and delivers the data held behind it.
func TestSourceStopsAnswering(t *testing.T) {
	n := newNet(t, srcConfig(), rcvConfig())
	n.Latency = ms
	n.Rule = netsim.Rules(netsim.Drop(wire.TypeODATA, 5, 1, netsim.AnyNode), netsim.DropAll(wire.TypeNAK, netsim.AnyNode))
	n.Publish(10, 100)
	n.Run(time.Minute)
	s := check(t, n, 0, 0)
	if s.Lost != 1 || s.Losses[0].SQN != 5 {
		t.Fatalf("%+v", s)
	}
	want := ms + 50*(10*ms+200*ms)
	if at := eventAt(t, n, 0, receiver.EventLoss, 5); at != want {
		t.Errorf("loss at %v, want %v", at, want)
	}
	if naks := len(n.Flights(wire.TypeNAK, 0)); naks != 50 {
		t.Errorf("%d NAKs, want 50", naks)
	}
	if st := n.Nodes[0].R.Stats(); st.LostNCFRetries != 1 {
		t.Errorf("stats %+v", st)
	}
}

// The source's window moves past a sqn that is never repaired: the trail in
// the next ODATA ends the recovery at once. With a 20-packet window ODATA 26
// carries trail 6 and arrives at 27 ms.
func TestTrailPassesLoss(t *testing.T) {
	src := srcConfig()
	src.WindowSQNs = 20
	n := newNet(t, src, rcvConfig())
	n.Latency = ms
	n.Rule = netsim.Rules(netsim.Drop(wire.TypeODATA, 5, 1, netsim.AnyNode), netsim.DropAll(wire.TypeNAK, netsim.AnyNode))
	n.PublishEvery(0, ms, 100, 100)
	n.Run(time.Second)
	s := check(t, n, 0, 0)
	if s.Lost != 1 {
		t.Fatalf("%+v", s)
	}
	if at := eventAt(t, n, 0, receiver.EventLoss, 5); at != 27*ms {
		t.Errorf("loss at %v, want 27ms", at)
	}
	if st := n.Nodes[0].R.Stats(); st.LostTrail != 1 {
		t.Errorf("stats %+v", st)
	}
}
