package source_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/source"
	"github.com/tickcast/tickcast/pgm/wire"
)

// A new source sends three SPMs, sqn 0, 1, 2, advertising an empty window
// as OpenPGM does (trail 0, lead 0xFFFFFFFF), then waits for the ambient SPM.
func TestStartSPMs(t *testing.T) {
	s := newSource(t, config())
	pkts := drain(t, s, t0)
	if len(pkts) != 3 {
		t.Fatalf("got %d packets, want 3", len(pkts))
	}
	for i, p := range pkts {
		spm := p.SPM
		if p.Header.Type != wire.TypeSPM || spm.SQN != uint32(i) || spm.Trail != 0 || spm.Lead != 0xFFFFFFFF ||
			spm.NLA != nla || spm.TSI != tsi || spm.DataPort != dport || spm.Options.Fin {
			t.Errorf("packet %d: %v %+v", i, p.Header.Type, spm)
		}
	}
	if d := s.Deadline(); !d.Equal(at(30 * time.Second)) {
		t.Errorf("Deadline = %v, want the ambient SPM at +30s", d.Sub(t0))
	}
}

// ODATA numbers from 0 and carries the trail as OpenPGM writes it: before
// the packet is added, so once the 80-packet window is full ODATA n carries
// n-80 [observed: sqn 80 -> trail 0, 81 -> 1, 99 -> 19].
func TestODATASequenceAndTrail(t *testing.T) {
	s := started(t, config())
	pkts := send(t, s, t0, 100)
	for i, p := range pkts {
		d := p.Data
		wantTrail := uint32(0)
		if i > 80 {
			wantTrail = uint32(i - 80)
		}
		if p.Header.Type != wire.TypeODATA || d.SQN != uint32(i) || d.Trail != wantTrail || len(d.Payload) != 100 || d.Options.Len() != 0 {
			t.Fatalf("ODATA %d: type %v sqn %d trail %d (want %d)", i, p.Header.Type, d.SQN, d.Trail, wantTrail)
		}
	}
	if trail, lead := s.Window(); trail != 20 || lead != 99 {
		t.Errorf("window %d..%d, want 20..99", trail, lead)
	}
}

// The window size follows libzmq's compute_sqns: 80 at 100 kbit/s for 10 s.
func TestWindowSQNs(t *testing.T) {
	cfg := config()
	cfg.WindowSQNs, cfg.Rate, cfg.RecoveryInterval = 0, source.LibzmqRate, source.LibzmqRecoveryInterval
	if n := newSource(t, cfg).WindowSQNs(); n != 80 {
		t.Errorf("libzmq-configured window = %d, want 80", n)
	}
	cfg.Rate, cfg.RecoveryInterval = 0, 0
	if n := newSource(t, cfg).WindowSQNs(); n != 8333 {
		t.Errorf("default window = %d, want 8333", n)
	}
}

// After data at T the heartbeat SPMs go out at exactly T+0.1, +0.2, +0.3,
// +0.4, +0.5, +1.8, +8.8 and +24.8 s, advertising the lead; the ambient SPM
// keeps its own 30 s schedule from the start.
func TestHeartbeatSchedule(t *testing.T) {
	s := started(t, config())
	T := at(2 * time.Second)
	send(t, s, T, 3)
	var got []time.Duration
	for {
		d := s.Deadline()
		if d.After(at(65 * time.Second)) {
			break
		}
		for _, p := range drain(t, s, d) {
			if p.Header.Type != wire.TypeSPM || p.SPM.Lead != 2 || p.SPM.Trail != 0 {
				t.Fatalf("at %v: %v lead %d", d.Sub(t0), p.Header.Type, p.SPM.Lead)
			}
			got = append(got, d.Sub(T))
		}
	}
	want := []time.Duration{100 * ms, 200 * ms, 300 * ms, 400 * ms, 500 * ms, 1800 * ms, 8800 * ms, 24800 * ms,
		28 * time.Second, 58 * time.Second} // ambient at t0+30 s and t0+60 s
	if !slices.Equal(got, want) {
		t.Errorf("SPMs at T+%v\nwant T+%v", got, want)
	}
}

// The heartbeat schedule is configurable, and restarts with every ODATA.
func TestHeartbeatRestartsAndConfigurable(t *testing.T) {
	cfg := config()
	cfg.HeartbeatSPM = []time.Duration{10 * ms, 20 * ms}
	cfg.AmbientSPM = time.Hour
	s := started(t, cfg)
	send(t, s, t0, 1)
	if d := s.Deadline(); !d.Equal(at(10 * ms)) {
		t.Fatalf("first heartbeat at %v", d.Sub(t0))
	}
	send(t, s, at(5*ms), 1) // restarts the schedule
	if d := s.Deadline(); !d.Equal(at(15 * ms)) {
		t.Fatalf("restarted heartbeat at %v", d.Sub(t0))
	}
	drain(t, s, at(15*ms))
	if d := s.Deadline(); !d.Equal(at(35 * ms)) {
		t.Fatalf("second heartbeat at %v", d.Sub(t0))
	}
	drain(t, s, at(35*ms))
	if d := s.Deadline(); !d.Equal(at(time.Hour)) {
		t.Fatalf("after the schedule: %v, want the ambient SPM", d.Sub(t0))
	}

	cfg.HeartbeatSPM = []time.Duration{} // disabled
	s = started(t, cfg)
	send(t, s, t0, 1)
	if d := s.Deadline(); !d.Equal(at(time.Hour)) {
		t.Fatalf("heartbeats disabled, but Deadline = %v", d.Sub(t0))
	}
}

// A caller that oversleeps gets one SPM per timer, not a burst of the
// missed ones.
func TestLateTimersDoNotBurst(t *testing.T) {
	s := started(t, config())
	send(t, s, t0, 1)
	pkts := drain(t, s, at(10*time.Minute))
	if len(pkts) != 2 { // one heartbeat, one ambient
		t.Fatalf("%d SPMs after oversleeping, want 2", len(pkts))
	}
	if d := s.Deadline(); !d.Equal(at(10*time.Minute + 30*time.Second)) {
		t.Errorf("next ambient at %v", d.Sub(t0))
	}
}

// An SPMR makes an SPM go out at once; SPMRs that arrive before the caller
// polls share it. SPMRs for another session are ignored.
func TestSPMR(t *testing.T) {
	s := started(t, config())
	send(t, s, t0, 5)
	spmr := &wire.Packet{}
	spmr.Header.Type = wire.TypeSPMR
	spmr.SPMR = wire.SPMR{TSI: tsi, DataPort: dport}
	for range 10 {
		if err := s.HandlePacket(at(ms), spmr); err != nil {
			t.Fatal(err)
		}
	}
	pkts := drain(t, s, at(ms))
	if len(pkts) != 1 || pkts[0].Header.Type != wire.TypeSPM || pkts[0].SPM.SQN != 3 || pkts[0].SPM.Lead != 4 {
		t.Fatalf("after SPMRs: %v", types(pkts))
	}
	other := *spmr
	other.SPMR.TSI.SPort++
	if err := s.HandlePacket(at(ms), &other); !errors.Is(err, source.ErrIgnored) {
		t.Errorf("SPMR for another TSI: %v", err)
	}
	if st := s.Stats(); st.SPMRs != 10 || st.IgnoredTSI != 1 {
		t.Errorf("stats %+v", st)
	}
}

// Close sends three SPMs with OPT_FIN, after the repairs already queued,
// then nothing; Send fails and NAKs are ignored.
func TestClose(t *testing.T) {
	s := started(t, config())
	send(t, s, t0, 5)
	if err := s.HandlePacket(at(ms), nak(2)); err != nil {
		t.Fatal(err)
	}
	s.Close(at(ms))
	pkts := drain(t, s, at(ms))
	if got, want := types(pkts), []wire.Type{wire.TypeNCF, wire.TypeRDATA, wire.TypeSPM, wire.TypeSPM, wire.TypeSPM}; !slices.Equal(got, want) {
		t.Fatalf("after Close: %v, want %v", got, want)
	}
	for _, p := range pkts[2:] {
		if !p.SPM.Options.Fin || p.SPM.Lead != 4 {
			t.Errorf("FIN SPM %+v", p.SPM)
		}
	}
	if !s.Deadline().IsZero() {
		t.Errorf("Deadline after close = %v", s.Deadline())
	}
	if _, err := s.Send(at(ms), apdu100); !errors.Is(err, source.ErrClosed) {
		t.Errorf("Send after close: %v", err)
	}
	if err := s.HandlePacket(at(ms), nak(3)); !errors.Is(err, source.ErrIgnored) {
		t.Errorf("NAK after close: %v", err)
	}
	if pkts := drain(t, s, at(time.Hour)); len(pkts) != 0 {
		t.Errorf("packets after close: %v", types(pkts))
	}
}

func TestSendRejectsBadAPDUs(t *testing.T) {
	s := started(t, config())
	for _, n := range []int{0, source.DefaultMaxTSDU + 1} {
		if _, err := s.Send(t0, make([]byte, n)); !errors.Is(err, source.ErrBadAPDU) {
			t.Errorf("%d-byte APDU: %v", n, err)
		}
	}
	if _, err := s.Send(t0, make([]byte, source.DefaultMaxTSDU)); err != nil {
		t.Errorf("%d-byte APDU: %v", source.DefaultMaxTSDU, err)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, mod := range map[string]func(*source.Config){
		"no TSI":       func(c *source.Config) { c.TSI = wire.TSI{} },
		"no port":      func(c *source.Config) { c.DataPort = 0 },
		"sport=dport":  func(c *source.Config) { c.TSI.SPort = dport },
		"no NLA":       func(c *source.Config) { c.NLA = netipZero },
		"no group":     func(c *source.Config) { c.Group = netipZero },
		"window":       func(c *source.Config) { c.WindowSQNs = -1 },
		"heartbeat":    func(c *source.Config) { c.HeartbeatSPM = []time.Duration{0} },
		"ambient":      func(c *source.Config) { c.AmbientSPM = -1 },
		"repair rate":  func(c *source.Config) { c.RepairRate = -1 },
		"huge MaxTSDU": func(c *source.Config) { c.MaxTSDU = 70000 },
	} {
		cfg := config()
		mod(&cfg)
		if _, err := source.New(cfg, t0); !errors.Is(err, source.ErrBadConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
