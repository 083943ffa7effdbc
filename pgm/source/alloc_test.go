package source_test

import (
	"testing"
	"time"
)

// Steady state allocates nothing: sending ODATA, heartbeat SPMs, and
// answering a NAK with an NCF and an RDATA.
func TestSteadyStateDoesNotAllocate(t *testing.T) {
	cfg := config()
	cfg.Rate = 0 // the default rate limit, exercised
	s := started(t, cfg)
	now := t0
	step := func() {
		now = now.Add(110 * time.Millisecond) // a heartbeat SPM every step
		if _, err := s.Send(now, apdu100); err != nil {
			t.Fatal(err)
		}
		_, lead := s.Window()
		_ = s.HandlePacket(now, nakPkt)
		nakPkt.NAK.SQN = lead - 3
		for pkt := s.Poll(now); pkt != nil; pkt = s.Poll(now) {
		}
		_ = s.Deadline()
		_ = s.SendTime(100)
	}
	for range 200 {
		step()
	}
	if n := testing.AllocsPerRun(1000, step); n != 0 {
		t.Errorf("%v allocations per packet", n)
	}
	if st := s.Stats(); st.RDATASent < 1000 || st.NCFsSent < 1000 || st.SPMsSent < 300 {
		t.Errorf("the NAK path did not run: %+v", st)
	}
}

var nakPkt = nak(0)
