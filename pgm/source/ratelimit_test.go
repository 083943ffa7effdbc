package source_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/source"
	"github.com/tickcast/tickcast/pgm/wire"
)

// With libzmq's rate (12 500 B/s) the bucket holds one second, as in
// OpenPGM's rate_control.c, and each packet costs its PGM length plus 28
// bytes of IP and UDP. SendTime says exactly when the next one may go.
func TestRateLimitLibzmq(t *testing.T) {
	cfg := config()
	cfg.Rate = source.LibzmqRate
	s := started(t, cfg)
	const cost = wire.HeaderLen + 8 + 100 + 28 // 152
	n := 0
	for {
		if _, err := s.Send(t0, apdu100); err != nil {
			if !errors.Is(err, source.ErrRateLimited) {
				t.Fatal(err)
			}
			break
		}
		n++
	}
	if n != 12500/cost {
		t.Fatalf("burst of %d packets, want %d", n, 12500/cost)
	}
	left := 12500 - n*cost
	want := t0.Add(time.Duration((cost - left) * int(time.Second) / 12500))
	if got := s.SendTime(100); !got.Equal(want) {
		t.Fatalf("SendTime = %v, want %v", got.Sub(t0), want.Sub(t0))
	}
	if _, err := s.Send(want.Add(-time.Nanosecond), apdu100); !errors.Is(err, source.ErrRateLimited) {
		t.Fatalf("1 ns early: %v", err)
	}
	if _, err := s.Send(want, apdu100); err != nil {
		t.Fatalf("at SendTime: %v", err)
	}
	// Sustained: over 10 s of sending as soon as allowed, the bytes sent
	// are the rate times 10 s plus the initial burst.
	sent := (n + 1) * cost
	now := want
	for now.Before(at(10 * time.Second)) {
		now = s.SendTime(100)
		if _, err := s.Send(now, apdu100); err != nil {
			t.Fatal(err)
		}
		sent += cost
	}
	elapsed := now.Sub(t0).Seconds()
	if got := float64(sent-12500) / elapsed; got < 12400 || got > 12600 {
		t.Errorf("sustained %.0f B/s, want 12500", got)
	}
	if st := s.Stats(); st.RateLimited != 2 {
		t.Errorf("RateLimited = %d", st.RateLimited)
	}
}

// At tickcast's default rate the bucket holds one millisecond (OpenPGM's
// per-ms resolution once rate/1000 holds a TPDU): 12 500 bytes.
func TestRateLimitDefault(t *testing.T) {
	cfg := config()
	cfg.Rate = 0
	s := started(t, cfg)
	full := make([]byte, source.DefaultMaxTSDU)
	const cost = wire.HeaderLen + 8 + source.DefaultMaxTSDU + 28
	n := 0
	for ; ; n++ {
		if _, err := s.Send(t0, full); err != nil {
			break
		}
	}
	if n != 12500/cost {
		t.Fatalf("burst of %d, want %d", n, 12500/cost)
	}
	// 1 s of sending at the limit moves 12.5 MB.
	var bytes int
	for now := t0; now.Before(at(time.Second)); {
		now = s.SendTime(len(full))
		if _, err := s.Send(now, full); err != nil {
			t.Fatal(err)
		}
		bytes += cost
	}
	if bytes < 12_400_000 || bytes > 12_600_000 {
		t.Errorf("%d bytes in 1 s", bytes)
	}
}

// Without a rate limit SendTime is always now.
func TestNoRateLimit(t *testing.T) {
	s := started(t, config())
	send(t, s, at(ms), 10000)
	if got := s.SendTime(1000); !got.Equal(at(ms)) {
		t.Errorf("SendTime = %v", got.Sub(t0))
	}
}

// RepairRate limits RDATA in a bucket of its own; the held repair shows in
// Deadline, and ODATA is not slowed by repairs.
func TestRepairRate(t *testing.T) {
	cfg := config()
	cfg.RepairRate = 1_000_000 // 1 byte per µs
	cfg.RateBurst = 1000       // holds 6 repairs of 152 bytes
	cfg.MaxTSDU = 100          // (a bucket always holds the largest packet)
	cfg.HeartbeatSPM = []time.Duration{}
	s := started(t, cfg)
	send(t, s, t0, 50)
	sqns := make([]uint32, 20)
	for i := range sqns {
		sqns[i] = uint32(i)
	}
	if err := s.HandlePacket(t0, nak(sqns...)); err != nil {
		t.Fatal(err)
	}
	pkts := drain(t, s, t0)
	const cost = wire.HeaderLen + 8 + 100 + 28 // 152: 6 fit in 1000 bytes
	if len(pkts) != 1+1000/cost {
		t.Fatalf("%d packets, want the NCF and %d RDATA", len(pkts), 1000/cost)
	}
	left := 1000 - 6*cost
	want := t0.Add(time.Duration((cost - left) * 1000)) // ns at 1 B/µs
	if d := s.Deadline(); !d.Equal(want) {
		t.Fatalf("Deadline = %v, want %v", d.Sub(t0), want.Sub(t0))
	}
	if _, err := s.Send(t0, apdu100); err != nil {
		t.Errorf("ODATA held back by repairs: %v", err)
	}
	got := 6
	for got < 20 {
		now := s.Deadline()
		got += len(drain(t, s, now))
		if now.After(at(time.Second)) {
			t.Fatal("repairs do not drain")
		}
	}
}
