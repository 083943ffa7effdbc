package receiver_test

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/wire"
)

// Malformed and misdirected packets are dropped, counted, and change
// nothing.
func TestDropsGarbage(t *testing.T) {
	h := joined(t, config())
	good := encode(t, odata(3, 0))
	badSum := slices.Clone(good)
	badSum[len(badSum)-1] ^= 1
	badLen := slices.Clone(good) // TSDU length disagrees with the payload
	binary.BigEndian.PutUint16(badLen[14:], 100)
	binary.BigEndian.PutUint16(badLen[6:], 0)
	binary.BigEndian.PutUint16(badLen[6:], wire.Checksum(badLen))
	wrongPort := odata(3, 0)
	wrongPort.DataPort = 5556
	poll := slices.Clone(good)
	poll[4] = byte(wire.TypePOLL)
	nakFromOther := &wire.NAK{Type: wire.TypeNAK, TSI: tsi, DataPort: dport, SQN: 3, Source: nla, Group: group}
	for _, c := range []struct {
		name string
		b    []byte
		stat func(receiver.Stats) uint64
	}{
		{"bad checksum", badSum, func(s receiver.Stats) uint64 { return s.DroppedParse }},
		{"TSDU length mismatch", badLen, func(s receiver.Stats) uint64 { return s.DroppedParse }},
		{"empty", nil, func(s receiver.Stats) uint64 { return s.DroppedParse }},
		{"POLL", poll, func(s receiver.Stats) uint64 { return s.DroppedParse }},
		{"wrong port", encode(t, wrongPort), func(s receiver.Stats) uint64 { return s.DroppedPort }},
		{"sqn-trail >= 2^31-1", encode(t, odata(3, 3+0x80000001) /* trail 3-(2^31-1) */), func(s receiver.Stats) uint64 { return s.DroppedMalformed }},
		{"SPM window of 2^31", encode(t, spm(9, 3, 3+0x7FFFFFFF)), func(s receiver.Stats) uint64 { return s.DroppedMalformed }},
		{"another receiver's NAK", encode(t, nakFromOther), func(s receiver.Stats) uint64 { return s.DroppedUpstream }},
	} {
		before := c.stat(h.r.Stats())
		if err := h.r.HandleDatagram(t0, src, c.b); !errors.Is(err, receiver.ErrDropped) {
			t.Errorf("%s: %v", c.name, err)
		}
		if c.stat(h.r.Stats()) != before+1 {
			t.Errorf("%s: not counted", c.name)
		}
	}
	// A hand-made Packet whose header disagrees with its payload.
	var p wire.Packet
	_ = wire.ParsePacket(good, &p)
	p.Header.TSDULength++
	if err := h.r.HandlePacket(t0, src, &p); !errors.Is(err, receiver.ErrDropped) {
		t.Errorf("hand-made mismatch: %v", err)
	}
	h.expectEvents()
	h.ok(t0, odata(3, 0))
	h.expectEvents("data 3")
}

// Data that cannot be delivered as one TSDU (a fragment of a multi-TPDU
// APDU, which libzmq never sends, or a payload larger than MaxTSDU) still
// takes its place in the sequence: it is reported lost, not NAKed forever.
func TestUndeliverableData(t *testing.T) {
	cfg := config()
	cfg.MaxTSDU = 8
	h := joined(t, cfg)
	frag := odata(3, 0)
	frag.Options.HasFragment = true
	frag.Options.Fragment = wire.Fragment{FirstSQN: 3, Length: 5000}
	one := odata(4, 0) // a one-TPDU APDU with OPT_FRAGMENT is fine
	one.Options.HasFragment = true
	one.Options.Fragment = wire.Fragment{FirstSQN: 4, Length: 8}
	big := odata(5, 0)
	big.Payload = append(big.Payload, "more than 8"...)
	h.ok(t0, frag, one, big, odata(6, 0))
	h.expectEvents("loss 3..3", "data 4", "loss 5..5", "data 6")
	if st := h.r.Stats(); st.LostUnusable != 2 {
		t.Errorf("stats %+v", st)
	}
}

// Duplicates of data held or delivered are dropped.
func TestDuplicates(t *testing.T) {
	h := joined(t, config())
	h.ok(t0, odata(4, 0))
	for _, d := range []*wire.Data{odata(4, 0), rdata(2, 0), odata(1, 0)} {
		if err := h.in(t0, d); !errors.Is(err, receiver.ErrDropped) {
			t.Errorf("duplicate %d: %v", d.SQN, err)
		}
	}
	h.ok(t0, rdata(3, 0))
	h.expectEvents("rdata 3", "data 4")
	if st := h.r.Stats(); st.DroppedDuplicates != 1 || st.DroppedOld != 2 {
		t.Errorf("stats %+v", st)
	}
}

// A sequence number far beyond the window (a receiver cut off for longer
// than its window), once believed, costs one pass over the window, not a
// loop over every skipped number: the receiver reports everything before it
// lost and joins again there, without NAKing what it skipped.
func TestJumpBeyondWindowRejoins(t *testing.T) {
	h := joined(t, config())
	h.ok(t0, odata(4, 0))
	far := uint32(3 + 1<<30)
	h.ok(t0.Add(receiver.DefaultJumpConfirm), odata(far, 0)) // after a silence
	h.expectEvents("loss 3..1073741826", "data 1073741827")
	if err := h.in(t0, odata(5, 0)); !errors.Is(err, receiver.ErrDropped) {
		t.Fatalf("data behind the new join point: %v", err)
	}
	st := h.r.Stats()
	if st.Rejoins != 1 || st.Placeholders != 1 || st.LostJumped != 1<<30 || st.EvictedData != 1 {
		t.Errorf("stats %+v", st)
	}
	h.expectSent(t0.Add(1e12)) // no NAKs: only the SPMR-less peer expiry
	// An SPM lead jump does the same, joining after the lead.
	h = joined(t, config())
	h.ok(t0.Add(receiver.DefaultJumpConfirm), spm(1, 0, 1000))
	h.ok(t0.Add(receiver.DefaultJumpConfirm), odata(1001, 0))
	h.expectEvents("loss 3..1000", "data 1001")
}

// One forged packet with a live session's TSI and a sequence number far
// ahead (ODATA at lead + 2^30, an SPM whose lead or sequence number is far
// ahead) is not believed while the real source is heard: dropped and
// counted, the window unmoved, the real data delivered. Before: the window
// jumped, real data was dropped as old, and no loss was reported.
func TestAForgedJumpDoesNotMoveTheWindow(t *testing.T) {
	h := joined(t, config())
	h.ok(at(ms), odata(3, 0))
	for _, forged := range []appender{
		odata(3+1<<30, 0),
		rdata(40_000, 0),
		spm(2, 0, 3+1<<30),
		spm(1<<30, 0, 3),
	} {
		if err := h.in(at(2*ms), forged); !errors.Is(err, receiver.ErrDropped) {
			t.Fatalf("forged %T accepted: %v", forged, err)
		}
	}
	h.ok(at(3*ms), odata(4, 0), odata(5, 0))
	h.ok(at(4*ms), spm(3, 0, 5))
	h.expectEvents("data 3", "data 4", "data 5")
	h.expectSent(at(time.Second))
	if st := h.r.Stats(); st.DroppedImplausible != 4 || st.Rejoins != 0 || st.LostSQNs != 0 {
		t.Errorf("stats %+v", st)
	}
}

// An advertised trail beyond an empty window moves the window to it: the
// sqns in between were sent and never heard.
func TestTrailJumpOnEmptyWindow(t *testing.T) {
	h := joined(t, config())
	h.ok(at(ms), spm(1, 50, 60)) // 58 packets in a millisecond: believed at once
	h.expectEvents("loss 3..49")
	h.expectSent(at(11*ms), "NAK [50 51 52 53 54 55 56 57 58 59 60] to 10.0.0.1")
}

// A malformed packet of an unknown session does not create a peer.
func TestMalformedCreatesNoPeer(t *testing.T) {
	h := newRT(t, config())
	for _, p := range []appender{odata(3, 3+0x80000001), spm(0, 3, 3+0x7FFFFFFF)} {
		if err := h.in(t0, p); !errors.Is(err, receiver.ErrDropped) {
			t.Fatal(err)
		}
	}
	if h.r.Peers() != 0 {
		t.Errorf("%d peers", h.r.Peers())
	}
	h.expectEvents()
}

// Old packets replayed with a session's TSI (a duplicate of data held or
// delivered, data behind the window) are no sign of where the source is:
// they do not count as hearing it, so a stream of them cannot keep the real
// source's jump ahead after an outage from being believed.
func TestReplayedOldPacketsDoNotHoldBackARealJump(t *testing.T) {
	h := joined(t, config())
	h.ok(at(ms), odata(3, 0))
	h.expectEvents("data 3")
	// The source goes on while the receiver hears nothing of it but a
	// replay of its old packet, every millisecond, for the confirmation
	// time.
	end := ms + receiver.DefaultJumpConfirm
	for d := 2 * ms; d < end; d += ms {
		if err := h.in(at(d), odata(3, 0)); !errors.Is(err, receiver.ErrDropped) {
			t.Fatalf("a replayed packet at %v: %v", d, err)
		}
	}
	// Then its data again, far ahead: believed, the skipped range lost.
	h.ok(at(end+ms), odata(100_000, 99_000))
	if st := h.r.Stats(); st.DroppedImplausible != 0 {
		t.Fatalf("the real jump was dropped as implausible: %+v", st)
	}
	h.expectEvents("loss 4..99999", "data 100000")
}
