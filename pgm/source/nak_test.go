package source_test

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/source"
	"github.com/tickcast/tickcast/pgm/wire"
)

// A NAK is answered at once with an NCF to the group mirroring it, list
// included, and with an RDATA per sqn: the stored ODATA with type 5 and the
// current trail, its checksum updated.
func TestNAKGetsNCFThenRDATA(t *testing.T) {
	s := started(t, config())
	odata := send(t, s, t0, 100) // window 20..99
	if err := s.HandlePacket(at(ms), nak(30, 31, 35)); err != nil {
		t.Fatal(err)
	}
	pkts := drain(t, s, at(ms))
	if got, want := types(pkts), []wire.Type{wire.TypeNCF, wire.TypeRDATA, wire.TypeRDATA, wire.TypeRDATA}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	ncf := pkts[0].NAK
	if !slices.Equal(sqnsOf(pkts[0]), []uint32{30, 31, 35}) || ncf.Source != nla || ncf.Group != group || ncf.TSI != tsi || ncf.DataPort != dport {
		t.Errorf("NCF %+v", ncf)
	}
	if pkts[0].Header.Options != wire.HdrOptPresent|wire.HdrOptNetwork {
		t.Errorf("NCF options byte %#x, want 0x03", pkts[0].Header.Options)
	}
	for i, q := range []uint32{30, 31, 35} {
		d := pkts[1+i].Data
		if d.SQN != q || d.Trail != 20 || !slices.Equal(d.Payload, odata[q].Data.Payload) {
			t.Errorf("RDATA %d: sqn %d trail %d", i, d.SQN, d.Trail)
		}
	}
	// RDATA restarts the heartbeat, as OpenPGM's send_rdata does.
	if d := s.Deadline(); !d.Equal(at(101 * ms)) {
		t.Errorf("heartbeat after RDATA at %v", d.Sub(t0))
	}
	st := s.Stats()
	if st.NAKs != 1 || st.NAKSQNs != 3 || st.NCFsSent != 1 || st.RDATASent != 3 || st.RepairsQueued != 3 {
		t.Errorf("stats %+v", st)
	}
}

// A NAK for sqns no longer in the window still gets its NCF (OpenPGM does
// this [observed for sqn 200]) but no RDATA. A NAK for sqns never sent gets
// neither: confirming them would extend every receiver's window to numbers
// that do not exist.
func TestNAKOutsideWindow(t *testing.T) {
	s := started(t, config())
	send(t, s, t0, 100) // window 20..99
	if err := s.HandlePacket(at(ms), nak(5)); err != nil {
		t.Fatal(err)
	}
	pkts := drain(t, s, at(ms))
	if len(pkts) != 1 || pkts[0].Header.Type != wire.TypeNCF || pkts[0].NAK.SQN != 5 {
		t.Fatalf("NAK behind the window: %v", types(pkts))
	}
	if err := s.HandlePacket(at(ms), nak(100, 5000)); !errors.Is(err, source.ErrIgnored) {
		t.Errorf("NAK beyond the lead: %v", err)
	}
	if err := s.HandlePacket(at(ms), nak(99, 100)); err != nil {
		t.Fatal(err)
	}
	pkts = drain(t, s, at(ms))
	if got := types(pkts); !slices.Equal(got, []wire.Type{wire.TypeNCF, wire.TypeRDATA}) || !slices.Equal(sqnsOf(pkts[0]), []uint32{99}) {
		t.Fatalf("NAK for 99 and 100: %v, NCF for %v", got, sqnsOf(pkts[0]))
	}
	st := s.Stats()
	if st.RepairsOutOfWindow != 1 || st.RepairsNeverSent != 3 {
		t.Errorf("stats %+v", st)
	}
	// Before any data, everything is beyond the lead.
	s = started(t, config())
	if err := s.HandlePacket(at(ms), nak(0)); !errors.Is(err, source.ErrIgnored) {
		t.Errorf("NAK before any data: %v", err)
	}
}

// Duplicate NAKs do not queue duplicate repairs: one RDATA per pending sqn,
// and none within RepairHoldoff of the last one. OpenPGM receivers send a
// NAK list followed by a plain NAK for its first sqn; both get an NCF.
func TestDuplicateNAKs(t *testing.T) {
	cfg := config()
	cfg.HeartbeatSPM = []time.Duration{}
	s := started(t, cfg)
	send(t, s, t0, 10)
	for _, p := range []*wire.Packet{nak(1, 2, 3), nak(1), nak(2, 3)} {
		if err := s.HandlePacket(at(ms), p); err != nil {
			t.Fatal(err)
		}
	}
	pkts := drain(t, s, at(ms))
	want := []wire.Type{wire.TypeNCF, wire.TypeNCF, wire.TypeNCF, wire.TypeRDATA, wire.TypeRDATA, wire.TypeRDATA}
	if got := types(pkts); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// The quirk's plain NAK arriving just after the RDATA went out.
	if err := s.HandlePacket(at(ms+500*time.Microsecond), nak(1)); err != nil {
		t.Fatal(err)
	}
	if got := types(drain(t, s, at(ms+500*time.Microsecond))); !slices.Equal(got, []wire.Type{wire.TypeNCF}) {
		t.Fatalf("NAK within the holdoff: %v", got)
	}
	// A receiver whose RDATA was lost NAKs again later and is repaired.
	if err := s.HandlePacket(at(250*ms), nak(1)); err != nil {
		t.Fatal(err)
	}
	if got := types(drain(t, s, at(250*ms))); !slices.Equal(got, []wire.Type{wire.TypeNCF, wire.TypeRDATA}) {
		t.Fatalf("NAK after the holdoff: %v", got)
	}
	st := s.Stats()
	if st.RepairsPending != 3 || st.RepairsHeldOff != 1 || st.RDATASent != 4 {
		t.Errorf("stats %+v", st)
	}
}

// A NAK is accepted only if addressed to this session exactly (interop
// notes §5): ports, GSI, source NLA, group. Anything else is counted and
// ignored without an NCF.
func TestNAKValidation(t *testing.T) {
	for _, c := range []struct {
		name  string
		mod   func(*wire.NAK)
		stat  func(source.Stats) uint64
		valid bool
	}{
		{"valid", func(*wire.NAK) {}, func(s source.Stats) uint64 { return s.NAKs }, true},
		{"N-NAK", func(k *wire.NAK) { k.Type = wire.TypeNNAK }, func(s source.Stats) uint64 { return s.IgnoredNNAK }, false},
		{"dport is not our sport", func(k *wire.NAK) { k.TSI.SPort++ }, func(s source.Stats) uint64 { return s.IgnoredPort }, false},
		{"sport is not our dport", func(k *wire.NAK) { k.DataPort++ }, func(s source.Stats) uint64 { return s.IgnoredPort }, false},
		{"another GSI", func(k *wire.NAK) { k.TSI.GSI[0]++ }, func(s source.Stats) uint64 { return s.IgnoredTSI }, false},
		{"another source NLA", func(k *wire.NAK) { k.Source = netip.MustParseAddr("10.0.0.1") }, func(s source.Stats) uint64 { return s.IgnoredNLA }, false},
		{"another group", func(k *wire.NAK) { k.Group = netip.MustParseAddr("239.192.1.2") }, func(s source.Stats) uint64 { return s.IgnoredGroup }, false},
		{"IPv4-mapped NLAs", func(k *wire.NAK) {
			k.Source = netip.AddrFrom16(nla.As16())
			k.Group = netip.AddrFrom16(group.As16())
		}, func(s source.Stats) uint64 { return s.NAKs }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := started(t, config())
			send(t, s, t0, 10)
			p := nak(3)
			c.mod(&p.NAK)
			p.Header.Type = p.NAK.Type
			// Through the wire, as a socket would.
			b, err := p.NAK.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			err = s.HandleDatagram(at(ms), b)
			if c.valid != (err == nil) || !c.valid && !errors.Is(err, source.ErrIgnored) {
				t.Fatalf("HandleDatagram: %v", err)
			}
			pkts := drain(t, s, at(ms))
			if c.valid != (len(pkts) == 2) || !c.valid && len(pkts) != 0 {
				t.Errorf("sent %v", types(pkts))
			}
			if c.stat(s.Stats()) != 1 {
				t.Errorf("not counted: %+v", s.Stats())
			}
		})
	}
}

// Garbage and downstream packets are counted and ignored.
func TestSourceIgnoresGarbage(t *testing.T) {
	s := started(t, config())
	send(t, s, t0, 3)
	good, _ := nak(1).NAK.Append(nil)
	bad := slices.Clone(good)
	bad[len(bad)-1] ^= 0xFF
	odata := &wire.Data{Type: wire.TypeODATA, TSI: tsi, DataPort: dport, Payload: apdu100}
	own, _ := odata.Append(nil)
	for name, b := range map[string][]byte{"bad checksum": bad, "empty": nil, "short": good[:10], "own ODATA": own} {
		if err := s.HandleDatagram(at(ms), b); !errors.Is(err, source.ErrIgnored) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if pkts := drain(t, s, at(ms)); len(pkts) != 0 {
		t.Errorf("sent %v", types(pkts))
	}
	if st := s.Stats(); st.IgnoredParse != 3 || st.IgnoredDownstream != 1 {
		t.Errorf("stats %+v", st)
	}
}

// A flood of NAKs between two polls costs bounded memory: at most 64 NCFs
// wait (the rest are counted as dropped) and each sqn is queued for repair
// once.
func TestNAKFlood(t *testing.T) {
	cfg := config()
	cfg.RepairRatio = -1 // memory, not the repair budget, is under test here
	s := started(t, cfg)
	send(t, s, t0, 80)
	for i := range 10000 {
		q := uint32(i % 80)
		if err := s.HandlePacket(at(ms), nak(q, (q+1)%80)); err != nil {
			t.Fatal(err)
		}
	}
	pkts := drain(t, s, at(ms))
	var ncfs, rdata int
	for _, p := range pkts {
		switch p.Header.Type {
		case wire.TypeNCF:
			ncfs++
		case wire.TypeRDATA:
			rdata++
		}
	}
	if ncfs != 64 || rdata != 80 {
		t.Errorf("%d NCFs and %d RDATA, want 64 and 80", ncfs, rdata)
	}
	if st := s.Stats(); st.NCFsDropped != 10000-64 || st.NAKs != 10000 {
		t.Errorf("stats %+v", st)
	}
}

// Sequence numbers wrap at 2^32: a session starting near the top keeps its
// window, NAKs and repairs straight across the wrap.
func TestSourceWrap(t *testing.T) {
	cfg := config()
	cfg.FirstSQN = 0xFFFFFFF0
	s := newSource(t, cfg)
	spms := drain(t, s, t0)
	if spms[0].SPM.Trail != 0xFFFFFFF0 || spms[0].SPM.Lead != 0xFFFFFFEF {
		t.Fatalf("empty window advertised as %d..%d", spms[0].SPM.Trail, spms[0].SPM.Lead)
	}
	pkts := send(t, s, t0, 30) // 0xFFFFFFF0 .. 13
	if pkts[16].Data.SQN != 0 || pkts[29].Data.SQN != 13 || pkts[29].Data.Trail != 0xFFFFFFF0 {
		t.Fatalf("sqn %d, %d trail %d", pkts[16].Data.SQN, pkts[29].Data.SQN, pkts[29].Data.Trail)
	}
	if err := s.HandlePacket(at(ms), nak(0xFFFFFFFF, 0, 1)); err != nil {
		t.Fatal(err)
	}
	got := drain(t, s, at(ms))
	if len(got) != 4 || got[1].Data.SQN != 0xFFFFFFFF || got[3].Data.SQN != 1 || got[3].Data.Trail != 0xFFFFFFF0 {
		t.Errorf("repairs across the wrap: %v", types(got))
	}
	pkts = send(t, s, at(ms), 70) // window 4..83
	if last := pkts[69].Data; last.SQN != 83 || last.Trail != 3 {
		t.Fatalf("ODATA %d trail %d", last.SQN, last.Trail)
	}
	if err := s.HandlePacket(at(ms), nak(0xFFFFFFF0, 3, 4)); err != nil {
		t.Fatal(err)
	}
	if got := types(drain(t, s, at(ms))); !slices.Equal(got, []wire.Type{wire.TypeNCF, wire.TypeRDATA}) {
		t.Errorf("after the window moved past the wrap: %v", got)
	}
	if st := s.Stats(); st.RepairsOutOfWindow != 2 {
		t.Errorf("stats %+v", st)
	}
}

// A flood of forged NAKs, every one valid (in-window sequence numbers, the
// right TSI, NLA and group), cannot make the source send more than its
// repair budget: RDATA and NCF bytes stay within RepairRatio times the
// ODATA bytes it sent, plus the budget's cap and floor. What it does not
// answer, it counts.
func TestNAKFloodIsCappedByTheRepairBudget(t *testing.T) {
	cfg := config()
	cfg.WindowSQNs = 1000
	s := started(t, cfg)
	var odataBytes, repairBytes int64
	var flood []uint32
	for i := range 63 {
		flood = append(flood, uint32(i*7))
	}
	for step := range 1000 { // a second: 1 ms steps
		now := t0.Add(time.Duration(step) * time.Millisecond)
		for range 10 { // the feed: 10 packets a millisecond
			pkt, err := s.Send(now, apdu100)
			if err != nil {
				t.Fatal(err)
			}
			odataBytes += int64(len(pkt)) + source.DefaultOverhead
		}
		for range 20 { // the flood: 20 NAKs of 63 sqns a millisecond
			lead := uint32(step*10 + 9)
			for i := range flood {
				flood[i] = lead - uint32(i*13)%min(lead+1, 999)
			}
			s.HandlePacket(now, nak(flood...))
		}
		for pkt := s.Poll(now); pkt != nil; pkt = s.Poll(now) {
			if typ := parse(t, pkt).Header.Type; typ == wire.TypeNCF || typ == wire.TypeRDATA {
				repairBytes += int64(len(pkt)) + source.DefaultOverhead
			}
		}
	}
	st := s.Stats()
	// Bytes on the wire, IP and UDP headers included, as the budget
	// counts them: ratio 1 × ODATA, and the floor for a second.
	limit := odataBytes + source.DefaultRepairFloor
	t.Logf("ODATA %d bytes, NCF+RDATA %d bytes (×%.2f); NAKs %d, RDATA %d, NCFs %d, NCFs over budget %d, suppressed %d, held off %d, pending %d",
		odataBytes, repairBytes, float64(repairBytes)/float64(odataBytes), st.NAKs, st.RDATASent, st.NCFsSent, st.NCFsOverBudget, st.RepairsSuppressed, st.RepairsHeldOff, st.RepairsPending)
	if repairBytes > limit {
		t.Fatalf("the flood drew %d bytes of repairs for %d bytes of data, over the budget of %d", repairBytes, odataBytes, limit)
	}
	if st.NCFsOverBudget == 0 {
		t.Error("no NCF was refused: the flood was not over the budget, or it is not counted")
	}
}

// Without a flood, the budget is invisible: every loss is repaired.
func TestRepairBudgetLeavesOrdinaryRepairsAlone(t *testing.T) {
	s := started(t, config())
	send(t, s, t0, 100)
	for i := range 20 {
		s.HandlePacket(at(ms), nak(uint32(20+i*3), uint32(21+i*3)))
	}
	pkts := drain(t, s, at(ms))
	rdata := 0
	for _, p := range pkts {
		if p.Header.Type == wire.TypeRDATA {
			rdata++
		}
	}
	if st := s.Stats(); rdata != 40 || st.NCFsSent != 20 || st.NCFsOverBudget != 0 || st.RepairsSuppressed != 0 {
		t.Fatalf("%d RDATA, stats %+v", rdata, st)
	}
}
