package receiver_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/wire"
)

// A source that never confirms: the NAK repeats every NAK_RPT_IVL plus a
// back-off, NAK_NCF_RETRIES times in all, and the sqn is declared lost at
// exactly the last WAIT_NCF expiry: 1 ms + 50 × (10 ms + 200 ms).
func TestLossAfterNCFRetries(t *testing.T) {
	h := joined(t, config())
	h.ok(at(ms), odata(4, 0))
	lostAt := ms + 50*(10*ms+200*ms)
	naks := 0
	for {
		d := h.deadline()
		if d >= lostAt {
			break
		}
		for _, s := range h.poll(at(d)) {
			if want := ms + time.Duration(naks)*210*ms + 10*ms; s.Type != wire.TypeNAK || d != want {
				t.Fatalf("NAK %d at %v, want %v", naks+1, d, want)
			}
			naks++
		}
		h.expectEvents()
	}
	if naks != 50 {
		t.Fatalf("%d NAKs, want 50", naks)
	}
	h.expectDeadline(lostAt)
	h.r.HandleTimeout(at(lostAt - 1))
	h.expectEvents()
	h.r.HandleTimeout(at(lostAt))
	h.expectEvents("loss 3..3", "data 4")
	if st := h.r.Stats(); st.LostNCFRetries != 1 || st.NAKsSent != 50 {
		t.Errorf("stats %+v", st)
	}
}

// A source that confirms but never repairs: each NCF re-arms the wait for
// RDATA; after NAK_DATA_RETRIES waits the sqn is lost. Retries and timers
// are configurable.
func TestLossAfterDataRetries(t *testing.T) {
	cfg := config()
	cfg.NAKDataRetries = 3
	cfg.NAKRDataInterval = 30 * ms
	h := joined(t, cfg)
	h.ok(at(ms), odata(4, 0))
	var nakTimes []time.Duration
	for len(h.events()) == 0 {
		d := h.deadline()
		for range h.poll(at(d)) {
			nakTimes = append(nakTimes, d)
			h.ok(at(d), ncf(3)) // confirmed at once
		}
		h.r.HandleTimeout(at(d))
		if d > time.Second {
			t.Fatal("no loss")
		}
	}
	// NAK after 10 ms, NCF, 30 ms of waiting, back-off 10 ms, NAK, ...
	want := []time.Duration{11 * ms, 51 * ms, 91 * ms}
	if fmt.Sprint(nakTimes) != fmt.Sprint(want) {
		t.Errorf("NAKs at %v, want %v", nakTimes, want)
	}
	if st := h.r.Stats(); st.LostDataRetries != 1 || st.LostSQNs != 1 {
		t.Errorf("stats %+v", st)
	}
}

// A lost NCF: the NAK is repeated after NAK_RPT_IVL and a back-off; a lost
// RDATA: after NAK_RDATA_IVL and a back-off.
func TestNCFAndRDATALossRetries(t *testing.T) {
	h := joined(t, config())
	h.ok(at(ms), odata(4, 0))
	h.expectSent(at(11*ms), "NAK [3] to 10.0.0.1")
	// The NCF is lost: WAIT_NCF expires at 211 ms, the back-off at 221 ms.
	h.expectDeadline(211 * ms)
	h.expectSent(at(211 * ms))
	h.expectDeadline(221 * ms)
	h.expectSent(at(221*ms), "NAK [3] to 10.0.0.1")
	h.ok(at(222*ms), ncf(3))
	// The RDATA is lost: WAIT_DATA expires at 422 ms, the back-off at 432 ms.
	h.expectDeadline(422 * ms)
	h.expectSent(at(422 * ms))
	h.expectDeadline(432 * ms)
	h.expectSent(at(432*ms), "NAK [3] to 10.0.0.1")
	h.ok(at(433*ms), ncf(3), rdata(3, 0))
	h.expectEvents("rdata 3", "data 4")
}

// An NCF heard before our own back-off expires (another receiver NAKed)
// suppresses our NAK.
func TestNCFSuppressesNAK(t *testing.T) {
	h := joined(t, config())
	h.ok(at(ms), odata(4, 0))
	h.ok(at(5*ms), ncf(3))
	h.expectSent(at(11 * ms))
	h.expectDeadline(205 * ms) // waiting for the RDATA
	h.ok(at(6*ms), rdata(3, 0))
	h.expectEvents("rdata 3", "data 4")
}

// The placeholders one packet reveals share one back-off and go out in one
// NAK, oldest first: a plain NAK for one sqn, an OPT_NAK_LIST for up to 62
// more, and several NAKs beyond that.
func TestNAKLists(t *testing.T) {
	cfg := config()
	cfg.WindowSQNs = 500
	h := joined(t, cfg)
	h.ok(at(ms), odata(103, 0)) // 3..102 missing
	sent := h.poll(at(11 * ms))
	if len(sent) != 2 {
		t.Fatalf("%d packets", len(sent))
	}
	first, second := sent[0].p.NAK.AppendSQNs(nil), sent[1].p.NAK.AppendSQNs(nil)
	if len(first) != 63 || first[0] != 3 || first[62] != 65 || len(second) != 37 || second[0] != 66 || second[36] != 102 {
		t.Fatalf("NAK lists %v and %v", first, second)
	}
	if sent[0].p.Header.Options != wire.HdrOptPresent|wire.HdrOptNetwork {
		t.Errorf("options byte %#x", sent[0].p.Header.Options)
	}
	// No OpenPGM-style duplicate plain NAK for the list's first sqn.
	h.ok(at(12*ms), ncf(first...), ncf(second...))
	h.ok(at(13*ms), rdata(50, 0), rdata(3, 0))
	h.expectEvents("rdata 3")
	// Repairs arriving in any order: a second gap's NAK is separate.
	h.ok(at(20*ms), odata(105, 0))
	h.expectSent(at(30*ms), "NAK [104] to 10.0.0.1")
}

// The advertised trail passing a missing sqn ends its recovery: it is lost
// at once and reported in place, without waiting for the retries.
func TestTrailPassesMissing(t *testing.T) {
	h := joined(t, config())
	h.ok(at(ms), odata(4, 0))
	h.expectSent(at(11*ms), "NAK [3] to 10.0.0.1")
	h.ok(at(12*ms), odata(5, 4)) // trail 4: 3 is gone from the source
	h.expectEvents("loss 3..3", "data 4", "data 5")
	// An SPM's trail does the same.
	h.ok(at(13*ms), odata(7, 4))
	h.ok(at(14*ms), spm(1, 7, 7))
	h.expectEvents("loss 6..6", "data 7")
	if st := h.r.Stats(); st.LostTrail != 2 || st.LossEvents != 2 {
		t.Errorf("stats %+v", st)
	}
}

// A late joiner never reports history as lost: the trail only counts once
// it has passed the join point. After that, it does.
func TestLateJoinTrailConstrained(t *testing.T) {
	h := newRT(t, config())
	h.ok(t0, odata(1000, 900))
	h.ok(t0, spm(0, 900, 1000))
	h.ok(at(ms), odata(1002, 990)) // 1001 missing; trail 990 is history
	h.expectEvents("new", "data 1000")
	h.expectSent(at(11*ms), "NAK [1001] to 10.0.0.1")
	h.ok(at(12*ms), odata(1003, 1000)) // the trail reaches the join point: still constrained
	h.ok(at(13*ms), odata(1004, 1001)) // passes it, but not 1001
	h.expectEvents()
	h.ok(at(14*ms), odata(1005, 1002)) // passes 1001
	h.expectEvents("loss 1001..1001", "data 1002", "data 1003", "data 1004", "data 1005")
}

// An SPM whose lead is beyond ours reveals the loss of the last packets
// before a pause.
func TestSPMLeadDetectsTailLoss(t *testing.T) {
	h := joined(t, config())
	h.ok(at(100*ms), spm(1, 0, 4))
	h.expectSent(at(110*ms), "NAK [3 4] to 10.0.0.1")
	h.ok(at(111*ms), ncf(3, 4), rdata(3, 0), rdata(4, 0))
	h.expectEvents("rdata 3", "rdata 4")
	// SPMs whose sequence number goes backwards are ignored.
	h.ok(at(112*ms), spm(5, 0, 4))
	if err := h.in(at(113*ms), spm(4, 0, 9)); err == nil {
		t.Fatal("old SPM accepted")
	}
	h.expectSent(at(200 * ms))
}

// An NCF for sqns beyond the lead does not extend the window (OpenPGM's
// does): anyone can send one, and one naming sqns far ahead, never sent,
// would fill the window with placeholders, NAK them and declare them lost.
// The loss of a tail is found from the next data or SPM.
func TestNCFNeverExtendsTheWindow(t *testing.T) {
	h := joined(t, config())
	h.ok(at(ms), ncf(5), ncf(20_000))
	h.expectSent(at(11 * ms))
	h.ok(at(12*ms), odata(3, 0), odata(4, 0), odata(5, 0))
	h.expectEvents("data 3", "data 4", "data 5")
	if st := h.r.Stats(); st.NCFsBeyond != 2 || st.Placeholders != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A caller that does not poll for a long time does not make the queue of
// NAKs to send grow beyond the window: sqns repaired meanwhile are dropped
// from it, and the NAK finally sent names only what is still missing.
func TestNAKQueueBoundedWithoutPoll(t *testing.T) {
	cfg := config()
	cfg.WindowSQNs = 8
	h := newRT(t, cfg)
	h.ok(t0, spm(0, 0, 0))
	now := t0
	q := uint32(1)
	events := 0
	for range 1000 {
		// q is lost, q+1 reveals it, its NAK is due 10 ms later but nobody
		// polls; then q is repaired.
		h.ok(now, odata(q+1, 0))
		now = now.Add(10 * ms)
		h.r.HandleTimeout(now)
		h.ok(now, rdata(q, 0))
		q += 2
		events += len(h.events())
		if err := h.r.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
	}
	h.ok(now, odata(q+1, 0))
	now = now.Add(10 * ms)
	h.expectSent(now, "NAK [2001] to 10.0.0.1")
	if events != 1+2000 || h.r.Stats().NAKsSent != 1 {
		t.Errorf("%d events, stats %+v", events, h.r.Stats())
	}
}

// An SPM with OPT_FIN says the source has closed: it answers no more NAKs,
// so what is still missing is lost at once, in place, rather than when the
// retries run out seconds later with everything behind it held.
func TestFinEndsRecovery(t *testing.T) {
	h := joined(t, config())
	h.ok(at(ms), odata(4, 0), odata(5, 0))
	h.expectSent(at(11*ms), "NAK [3] to 10.0.0.1")
	h.ok(at(12*ms), ncf(3)) // confirmed: waiting for RDATA that will never come
	fin := spm(1, 0, 7)     // the lead also reveals 6 and 7, lost with the source
	fin.Options.Fin = true
	h.ok(at(13*ms), fin)
	// The session is over: its place is free at once.
	h.expectEvents("loss 3..3", "data 4", "data 5", "loss 6..7", "expired")
	if st := h.r.Stats(); st.LostFin != 3 || st.PeersExpired != 1 {
		t.Errorf("stats %+v", st)
	}
	h.expectSent(at(time.Second)) // and no NAKs for them
	// Its other FIN SPMs, and anything else of it, are dropped.
	if err := h.in(at(14*ms), fin); !errors.Is(err, receiver.ErrDropped) {
		t.Fatalf("a FIN after the end: %v", err)
	}
	if st := h.r.Stats(); st.DroppedFinished != 1 || st.PeersNew != 1 {
		t.Errorf("stats %+v", st)
	}
}
