package source_test

import (
	"testing"
	"time"
)

// BenchmarkSend: one 1428-byte APDU to ODATA (header, copy into the window,
// checksum) per op, under the default rate limit's arithmetic.
func BenchmarkSend(b *testing.B) {
	cfg := config()
	cfg.Rate = 1 << 40 // limited, but never waiting
	cfg.WindowSQNs = 8192
	s := started(b, cfg)
	apdu := make([]byte, 1428)
	now := t0
	b.SetBytes(int64(len(apdu)))
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		if _, err := s.Send(now, apdu); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRepair: one NAK handled per op, answered with an NCF and an RDATA
// of 1428 bytes.
func BenchmarkRepair(b *testing.B) {
	cfg := config()
	cfg.WindowSQNs = 8192
	cfg.RepairHoldoff = -1
	s := started(b, cfg)
	apdu := make([]byte, 1428)
	for range 8192 {
		if _, err := s.Send(t0, apdu); err != nil {
			b.Fatal(err)
		}
	}
	p := nak(0)
	now := t0
	i := uint32(0)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		p.NAK.SQN = i % 8192
		i++
		if err := s.HandlePacket(now, p); err != nil {
			b.Fatal(err)
		}
		for pkt := s.Poll(now); pkt != nil; pkt = s.Poll(now) {
		}
	}
}
