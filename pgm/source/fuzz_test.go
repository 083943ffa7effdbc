package source_test

import (
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/source"
	"github.com/tickcast/tickcast/pgm/wire"
)

// FuzzSource drives a Source with a program decoded from the fuzz input:
// APDUs sent, NAKs (valid and not) for sqns around the window, SPMRs, raw
// garbage, time passing, Close. Nothing may panic, every packet produced
// must parse, Poll must run dry, and once it has the deadline must be in
// the future.
func FuzzSource(f *testing.F) {
	f.Add([]byte{0, 10, 0, 1, 3, 0, 2, 5, 1, 0, 7, 3, 3, 200, 4})
	f.Add([]byte{0, 255, 0, 0, 255, 0, 1, 250, 9, 5, 0, 0, 4, 0, 0})
	f.Add([]byte{6, 30, 1, 2, 3, 0, 1, 0, 5, 0, 0})
	f.Fuzz(func(t *testing.T, prog []byte) {
		cfg := config()
		cfg.WindowSQNs = 32
		cfg.Rate = 100_000
		cfg.RepairRate = 50_000
		cfg.FirstSQN = 0xFFFFFFF0
		s, err := source.New(cfg, t0)
		if err != nil {
			t.Fatal(err)
		}
		now := t0
		byteAt := func(i int) byte {
			if i < len(prog) {
				return prog[i]
			}
			return 0
		}
		for i := 0; i < len(prog); {
			op, a, b := prog[i]%7, byteAt(i+1), byteAt(i+2)
			i += 3
			trail, lead := s.Window()
			switch op {
			case 0: // send a APDUs
				for range a % 40 {
					if _, err := s.Send(now, apdu100); err != nil {
						break
					}
				}
			case 1: // NAK a few sqns around the window
				sqns := []uint32{trail + uint32(a) - 64}
				for k := range b % 8 {
					sqns = append(sqns, lead+uint32(k)-uint32(b))
				}
				p := nak(sqns...)
				if a%5 == 0 {
					p.NAK.Source = group // wrong NLA
				}
				_ = s.HandlePacket(now, p)
			case 2: // SPMR
				p := &wire.Packet{}
				p.Header.Type = wire.TypeSPMR
				p.SPMR = wire.SPMR{TSI: tsi, DataPort: dport}
				_ = s.HandlePacket(now, p)
			case 3: // time passes
				now = now.Add(time.Duration(a) * time.Duration(b%32+1) * ms)
				s.HandleTimeout(now)
			case 4:
				if a == 0 && b == 0 {
					s.Close(now)
				}
			case 5, 6: // garbage
				n := int(a % 64)
				_ = s.HandleDatagram(now, prog[min(i, len(prog)):min(i+n, len(prog))])
				i += n
			}
			polled := 0
			for pkt := s.Poll(now); pkt != nil; pkt = s.Poll(now) {
				var p wire.Packet
				if err := wire.ParsePacket(pkt, &p); err != nil {
					t.Fatalf("unparsable packet: %v", err)
				}
				if polled++; polled > 1000 {
					t.Fatal("Poll does not run dry")
				}
			}
			if d := s.Deadline(); !d.IsZero() && !d.After(now) {
				t.Fatalf("deadline %v not after now %v once drained", d.Sub(t0), now.Sub(t0))
			}
		}
	})
}
