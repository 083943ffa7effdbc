package receiver_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/wire"
)

// An application that stops reading while data keeps coming loses the
// oldest packets once the window (100) overflows, and is told exactly which:
// the loss comes first, then the 100 packets the window still holds.
func TestWindowOverrunSlowConsumer(t *testing.T) {
	h := newRT(t, config())
	h.ok(t0, spm(0, 0, 0))
	for q := uint32(1); q <= 250; q++ {
		h.ok(at(ms), odata(q, 0))
	}
	h.expectEvents(cat("new", "loss 1..150", seq(151, 250))...)
	if st := h.r.Stats(); st.EvictedData != 150 || st.LostSQNs != 150 {
		t.Errorf("stats %+v", st)
	}
}

// Overflow evicts placeholders too: a gap that is still being repaired when
// the window moves past it is lost, with the data around it kept in order.
func TestWindowOverrunWithGap(t *testing.T) {
	h := joined(t, config()) // commit 3
	h.ok(at(ms), odata(4, 0))
	h.expectEvents()
	for q := uint32(5); q <= 103; q++ { // window 4..103 needs 3 evicted
		h.ok(at(2*ms), odata(q, 0))
	}
	h.expectEvents(cat("loss 3..3", seq(4, 103))...)
	if st := h.r.Stats(); st.LostEvicted != 1 || st.EvictedData != 0 {
		t.Errorf("stats %+v", st)
	}
	h.expectSent(at(time.Second)) // the gap's NAK timer went with it
}

// Without an SPM there is nowhere to send a NAK. OpenPGM gives the gap up
// when its back-off expires; tickcast first sends an SPMR and waits one
// NAK_RPT_IVL for the SPM.
func TestNoSPMSendsSPMRThenGivesUp(t *testing.T) {
	h := newRT(t, config())
	h.ok(t0, odata(1, 0), odata(3, 0))
	h.expectEvents("new", "data 1")
	h.expectDeadline(10 * ms) // the back-off, before the 25 ms SPMR timer
	h.expectSent(at(10*ms), "SPMR to 10.0.0.9", "SPMR to group 239.192.1.1")
	h.expectDeadline(210 * ms)
	h.r.HandleTimeout(at(210 * ms))
	h.expectEvents("loss 2..2", "data 3")
	if st := h.r.Stats(); st.LostNoSPM != 1 || st.SPMRsSent != 2 {
		t.Errorf("stats %+v", st)
	}
}

// ... and if the SPM comes within that time, the NAK goes out then.
func TestNoSPMSPMRAnswered(t *testing.T) {
	h := newRT(t, config())
	h.ok(t0, odata(1, 0), odata(3, 0))
	h.expectSent(at(10*ms), "SPMR to 10.0.0.9", "SPMR to group 239.192.1.1")
	h.ok(at(11*ms), spm(0, 0, 3))
	h.expectSent(at(210*ms), "NAK [2] to 10.0.0.1")
	h.ok(at(211*ms), rdata(2, 0))
	h.expectEvents("new", "data 1", "rdata 2", "data 3")
}

// The SPMR timer: no SPM within SPMR_EXPIRY of the first packet. Another
// receiver's multicast SPMR cancels ours: its answer will do for us too.
func TestSPMRSuppressed(t *testing.T) {
	h := newRT(t, config())
	h.ok(t0, odata(1, 0))
	spmr := &wire.SPMR{TSI: tsi, DataPort: dport}
	h.ok(at(ms), spmr)
	h.expectSent(at(25 * ms))
	if st := h.r.Stats(); st.SPMRsHeard != 1 || st.SPMRsSent != 0 {
		t.Errorf("stats %+v", st)
	}
	cfg := config()
	cfg.NoMulticastSPMR = true
	h = newRT(t, cfg)
	h.ok(t0, odata(1, 0))
	h.expectSent(at(25*ms), "SPMR to 10.0.0.9")
}

// A peer that sends no SPM for PeerExpiry expires: what it missed is lost,
// what it has is delivered, then EventPeerExpired. Only SPMs keep a peer
// alive, as in OpenPGM. Its TSI heard again is a new peer.
func TestPeerExpiry(t *testing.T) {
	cfg := config()
	cfg.PeerExpiry = 10 * time.Second
	h := joined(t, cfg)
	h.ok(at(5*time.Second), spm(1, 0, 2)) // refreshes: expiry at 15 s
	h.ok(at(14*time.Second), odata(4, 0))
	h.expectSent(at(14*time.Second+10*ms), "NAK [3] to 10.0.0.1")
	h.expectDeadline(14*time.Second + 210*ms)
	h.r.HandleTimeout(at(14*time.Second + 210*ms))
	for h.deadline() < 15*time.Second {
		h.poll(at(h.deadline()))
	}
	h.expectDeadline(15 * time.Second)
	h.expectEvents()
	h.r.HandleTimeout(at(15 * time.Second))
	h.expectEvents("loss 3..3", "data 4", "expired")
	if h.r.Peers() != 0 || h.deadline() != -1 {
		t.Fatalf("%d peers, deadline %v", h.r.Peers(), h.deadline())
	}
	h.ok(at(16*time.Second), odata(9, 0))
	h.expectEvents("new", "data 9")
	if st := h.r.Stats(); st.PeersExpired != 1 || st.PeersNew != 2 || st.LostExpired != 1 {
		t.Errorf("stats %+v", st)
	}
}

// At most MaxPeers sessions are tracked: a new one takes the place of the
// stalest, preferring one never confirmed by an SPM, so that a live feed
// always gets through. Before: 20 forged ODATA from new GSIs, sent before
// the publisher started, kept it out for 300 s.
func TestMaxPeers(t *testing.T) {
	cfg := config()
	cfg.MaxPeers = 2
	h := newRT(t, cfg)
	live := spm(1, 1, 0) // a confirmed session
	live.TSI.SPort = 999
	h.ok(t0, live)
	for i := range 5 {
		d := odata(1, 0)
		d.TSI.SPort = uint16(1000 + i)
		h.ok(at(time.Duration(i)*ms), d) // each evicts the unconfirmed one before it
		h.events()                       // which drains
	}
	if st := h.r.Stats(); st.PeersEvicted != 4 || st.DroppedPeers != 0 || h.r.Peers() != 2 {
		t.Fatalf("%d peers, stats %+v", h.r.Peers(), st)
	}
	d := odata(1, 0)
	d.TSI.SPort = 999
	if err := h.in(at(10*ms), d); err != nil {
		t.Fatalf("the confirmed session lost its place: %v", err)
	}
}

// Expired sessions count while they drain (their data is still on its way
// to the application), up to MaxPeers of them; a session that never sent
// an SPM expires after UnconfirmedExpiry.
func TestMaxPeersDraining(t *testing.T) {
	cfg := config()
	cfg.MaxPeers = 2
	h := newRT(t, cfg)
	for i := range 2 {
		d := odata(1, 0)
		d.TSI.SPort = uint16(1000 + i)
		h.ok(t0, d)
	}
	h.r.HandleTimeout(at(receiver.DefaultUnconfirmedExpiry))
	if h.r.Peers() != 2 {
		t.Fatal("draining peers must still count")
	}
	d := odata(1, 0)
	d.TSI.SPort = 2000
	if err := h.in(at(receiver.DefaultUnconfirmedExpiry), d); !errors.Is(err, receiver.ErrDropped) {
		t.Fatalf("a new session while MaxPeers drain: %v", err)
	}
	h.events()
	h.ok(at(receiver.DefaultUnconfirmedExpiry), d)
	if st := h.r.Stats(); st.PeersUnconfirmed != 2 || st.DroppedPeers != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Ignored TSIs (our own source looping back) are dropped.
func TestIgnore(t *testing.T) {
	cfg := config()
	cfg.Ignore = []wire.TSI{tsi2}
	h := newRT(t, cfg)
	d := odata(1, 0)
	d.TSI = tsi2
	if err := h.in(t0, d); !errors.Is(err, receiver.ErrDropped) {
		t.Fatal(err)
	}
	h.ok(t0, odata(1, 0))
	h.expectEvents("new", "data 1")
	h.r.Ignore(tsi)
	h.expectEvents("expired")
	if err := h.in(t0, odata(2, 0)); !errors.Is(err, receiver.ErrDropped) {
		t.Fatal(err)
	}
	if st := h.r.Stats(); st.DroppedIgnored != 2 {
		t.Errorf("stats %+v", st)
	}
}

// Several sessions on one socket are independent and take turns in Next.
func TestTwoPeers(t *testing.T) {
	h := newRT(t, config())
	d2 := func(q uint32) *wire.Data { d := odata(q, 0); d.TSI = tsi2; return d }
	h.ok(t0, odata(1, 0), d2(7), odata(2, 0), d2(8), odata(4, 0), d2(9))
	h.expectEvents("new", "2:new", "data 1", "2:data 7", "data 2", "2:data 8", "2:data 9")
	s2 := spm(0, 0, 9)
	s2.TSI = tsi2
	h.ok(at(ms), spm(0, 0, 4), s2)
	h.expectSent(at(10*ms), "NAK [3] to 10.0.0.1")
}

// Sequence numbers wrap at 2^32: gaps, NAK lists, repairs, the trail and
// delivery carry on straight across it.
func TestReceiverWrap(t *testing.T) {
	h := newRT(t, config())
	h.ok(t0, spm(0, 0xFFFFFFF0, 0xFFFFFFF9))
	h.ok(t0, odata(0xFFFFFFFA, 0xFFFFFFF0), odata(0xFFFFFFFB, 0xFFFFFFF0), odata(2, 0xFFFFFFF0))
	h.expectEvents("new", "data 4294967290", "data 4294967291")
	sent := h.expectSent(at(10*ms), "NAK [4294967292 4294967293 4294967294 4294967295 0 1] to 10.0.0.1")
	h.ok(at(11*ms), ncf(sent[0].p.NAK.AppendSQNs(nil)...))
	h.ok(at(12*ms), rdata(0xFFFFFFFC, 0xFFFFFFF0), rdata(0xFFFFFFFF, 0xFFFFFFF0), rdata(0, 0xFFFFFFF0), rdata(1, 0xFFFFFFF0))
	h.expectEvents("rdata 4294967292")
	// The source's trail passes 0xFFFFFFFD and 0xFFFFFFFE: lost.
	h.ok(at(13*ms), odata(3, 0xFFFFFFFF))
	h.expectEvents("loss 4294967293..4294967294", "rdata 4294967295", "rdata 0", "rdata 1", "data 2", "data 3")
}

// A burst of forged sessions, confirmed by SPMs of their own, while the
// real feed is quiet (heard a moment ago, not this instant), takes the
// places of forged sessions, never the real one's: eviction goes by
// evidence (packets heard), not by who spoke last.
func TestABurstOfForgedSessionsCannotEvictAQuietFeed(t *testing.T) {
	h := newRT(t, config())
	h.ok(t0, spm(1, 1, 0))
	for i := range 50 { // the real feed: data a while
		h.ok(at(time.Duration(i)*ms), odata(uint32(1+i), 0))
	}
	h.events()
	quiet := at(250 * ms) // quiet for 200 ms: between two heartbeats
	for i := range 40 {
		s := spm(1, 0, uint32(i*1000))
		s.TSI.GSI = wire.GSI{9, byte(i)}
		h.in(quiet, s) // some are refused by the new-session rate
		h.events()
	}
	if err := h.in(quiet.Add(ms), odata(51, 0)); err != nil {
		t.Fatalf("the real session lost its place: %v (stats %+v)", err, h.r.Stats())
	}
	if st := h.r.Stats(); st.PeersEvicted == 0 {
		t.Fatalf("no forged session evicted: %+v", st)
	}
}

// Window says how much of the receive window is taken: the sequence
// numbers held (received and missing) until the application takes them.
func TestWindowUseIsWhatTheApplicationHasNotTaken(t *testing.T) {
	h := joined(t, config()) // commit 3, window of 100
	if used, capacity := h.r.Window(); used != 0 || capacity != 100 {
		t.Fatalf("joined: window %d of %d, want 0 of 100", used, capacity)
	}
	h.ok(at(ms), odata(5, 0)) // 3 and 4 missing, 5 held
	if used, _ := h.r.Window(); used != 3 {
		t.Errorf("a gap and a packet after it: %d used, want 3", used)
	}
	h.ok(at(ms), odata(3, 0), odata(4, 0))
	h.expectEvents(seq(3, 5)...)
	if used, _ := h.r.Window(); used != 0 {
		t.Errorf("all taken: %d used, want 0", used)
	}
}
