package receiver_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/receiver"
)

// A session's first ODATA defines its window: that packet is delivered,
// older ones are not, and nothing older is ever NAKed or reported lost,
// even when the advertised trail moves (it has not passed the join point).
func TestLateJoinAtFirstData(t *testing.T) {
	h := newRT(t, config())
	h.ok(t0, odata(1000, 900))
	h.expectEvents("new", "data 1000")
	if err := h.in(t0, odata(999, 900)); !errors.Is(err, receiver.ErrDropped) {
		t.Fatalf("data before the join point: %v", err)
	}
	h.ok(at(ms), odata(1001, 950), odata(1002, 1000))
	h.expectEvents("data 1001", "data 1002")
	// No SPM yet: an SPMR goes out after SPMR_EXPIRY, unicast to the IP
	// source of the packets and to the group, and nothing else.
	h.expectDeadline(25 * ms)
	h.expectSent(at(25*ms), "SPMR to 10.0.0.9", "SPMR to group 239.192.1.1")
	// Until it sends an SPM, the session holds its place for 5 s only.
	h.expectDeadline(5 * time.Second)
	if st := h.r.Stats(); st.DroppedOld != 1 || st.NAKsSent != 0 || st.LostSQNs != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A session first heard in an SPM starts after the SPM's lead [observed:
// SPM lead=9, then ODATA 10 delivered, ODATA 8 dropped].
func TestLateJoinAtSPM(t *testing.T) {
	h := newRT(t, config())
	h.ok(t0, spm(0, 5, 9))
	h.expectEvents("new")
	h.ok(t0, odata(10, 5))
	if err := h.in(t0, odata(8, 5)); !errors.Is(err, receiver.ErrDropped) {
		t.Fatalf("ODATA 8: %v", err)
	}
	h.expectEvents("data 10")
	h.expectSent(at(time.Second)) // the SPM cancelled the SPMR
}

// NCFs never define a window, nor create a session.
func TestNCFDoesNotDefine(t *testing.T) {
	h := newRT(t, config())
	if err := h.in(t0, ncf(5)); !errors.Is(err, receiver.ErrDropped) {
		t.Fatalf("NCF first: %v", err)
	}
	h.expectEvents()
	if h.r.Peers() != 0 {
		t.Errorf("%d peers", h.r.Peers())
	}
}

// joined returns a receiver that heard an SPM (lead 0: the window starts at
// 1) and ODATA 1 and 2 at t0.
func joined(t testing.TB, cfg receiver.Config) *rt {
	h := newRT(t, cfg)
	h.ok(t0, spm(0, 0, 0), odata(1, 0), odata(2, 0))
	h.expectEvents("new", "data 1", "data 2")
	return h
}

// A gap is NAKed after the back-off, unicast to the SPM's NLA; the NCF
// moves it to waiting for RDATA, and the RDATA releases the data held
// behind it.
func TestSingleLossRepaired(t *testing.T) {
	h := joined(t, config())
	h.ok(at(ms), odata(4, 0))
	h.expectEvents() // 4 waits for 3
	h.expectDeadline(11 * ms)
	h.expectSent(at(11*ms - 1)) // nothing before the back-off
	naks := h.expectSent(at(11*ms), "NAK [3] to 10.0.0.1")
	k := naks[0].p.NAK
	if k.TSI != tsi || k.DataPort != dport || k.Source != nla || k.Group != group || naks[0].p.Header.SourcePort != dport {
		t.Errorf("NAK %+v", k)
	}
	h.expectDeadline(211 * ms) // NAK_RPT_IVL for the NCF
	h.ok(at(12*ms), ncf(3))
	h.expectDeadline(212 * ms) // NAK_RDATA_IVL for the RDATA
	h.ok(at(13*ms), rdata(3, 0))
	h.expectEvents("rdata 3", "data 4")
	h.expectDeadline(300 * time.Second)
	if st := h.r.Stats(); st.Repaired != 1 || st.NAKsSent != 1 || st.Placeholders != 1 || st.LostSQNs != 0 {
		t.Errorf("stats %+v", st)
	}
}
