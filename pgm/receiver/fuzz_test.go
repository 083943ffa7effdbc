package receiver_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/wire"
)

// FuzzReceiver feeds a Receiver a sequence of packets decoded from the fuzz
// input: mostly well-formed ODATA, RDATA, SPMs and NCFs of two sessions with
// sequence numbers near each other (so that windows, gaps, NAKs and trails
// get exercised), some far jumps, raw garbage, and time passing. After every
// step it checks that nothing panics, the internal invariants hold, the
// deadline is in the future once the output is drained, and each session's
// events cover its sequence numbers exactly once, in order.
func FuzzReceiver(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 3, 0, 10, 3, 5, 0, 5, 2, 4, 3, 200, 4})
	f.Add([]byte{1, 0, 9, 0, 0, 10, 0, 0, 12, 0, 3, 60, 2, 11, 3, 250, 3, 250, 0, 11, 4})
	f.Add([]byte{0, 0, 0, 0, 0, 40, 0, 3, 255, 3, 255, 3, 255, 5, 0, 0, 1, 0, 6, 10, 1, 2, 3})
	f.Add([]byte{7, 0, 0, 0, 7, 0, 5, 0, 8, 0xde, 0xad, 0xbe, 0xef, 0, 6, 0, 4})
	f.Fuzz(func(t *testing.T, prog []byte) {
		cfg := receiver.Config{DataPort: dport, Group: group, WindowSQNs: 16, MaxPeers: 2,
			PeerExpiry: 5 * time.Second, Rand: constRand(3 * ms), NAKNCFRetries: 3, NAKDataRetries: 3}
		r, err := receiver.New(cfg, t0)
		if err != nil {
			t.Fatal(err)
		}
		now := t0
		tsis := []wire.TSI{tsi, tsi2}
		cur := 0
		base := []uint32{0xFFFFFFF0, 100}
		spmSeq := []uint32{0, 0}
		type cover struct {
			known bool   // an event fixed the join point
			next  uint32 // the next sqn an event must cover
		}
		sessions := map[wire.TSI]*cover{}
		check := func() {
			for {
				tx, ok := r.Poll(now)
				if !ok {
					break
				}
				var p wire.Packet
				if err := wire.ParsePacket(tx.Packet, &p); err != nil {
					t.Fatalf("sent an unparsable %v: %v", tx.Type, err)
				}
			}
			if d := r.Deadline(); !d.IsZero() && !d.After(now) {
				t.Fatalf("deadline %v not after now %v once drained", d.Sub(t0), now.Sub(t0))
			}
			for {
				ev, ok := r.Next()
				if !ok {
					break
				}
				c := sessions[ev.TSI]
				switch ev.Kind {
				case receiver.EventPeerNew:
					if c != nil {
						t.Fatalf("%v new twice", ev.TSI)
					}
					sessions[ev.TSI] = &cover{}
				case receiver.EventPeerExpired:
					if c == nil {
						t.Fatalf("%v expired without being new", ev.TSI)
					}
					delete(sessions, ev.TSI)
				case receiver.EventData, receiver.EventLoss:
					if c == nil {
						t.Fatalf("%v before new", ev)
					}
					if c.known && ev.SQN != c.next {
						t.Fatalf("%v: expected %d next", ev, c.next)
					}
					c.known = true
					if ev.Kind == receiver.EventData {
						c.next = ev.SQN + 1
						if binary.BigEndian.Uint32(ev.Payload) != ev.SQN {
							t.Fatalf("data %d carries %x", ev.SQN, ev.Payload)
						}
					} else {
						if ev.Count == 0 {
							t.Fatal("empty loss")
						}
						c.next = ev.SQN + ev.Count
					}
				}
			}
			if err := r.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
		}
		byteAt := func(i int) byte {
			if i < len(prog) {
				return prog[i]
			}
			return 0
		}
		for i := 0; i < len(prog); {
			op := prog[i] % 9
			a, b := byteAt(i+1), byteAt(i+2)
			i += 3
			s := base[cur]
			var pkt interface{ Append([]byte) ([]byte, error) }
			switch op {
			case 0, 5: // ODATA / RDATA at base+a, trail base+b-128 (mostly behind)
				d := odata(s+uint32(a), s+uint32(b)-128)
				d.TSI = tsis[cur]
				if op == 5 {
					d.Type = wire.TypeRDATA
				}
				pkt = d
			case 1: // SPM
				spmSeq[cur] += uint32(b % 3)
				m := spm(spmSeq[cur]-1, s+uint32(b)-128, s+uint32(a))
				m.TSI = tsis[cur]
				pkt = m
			case 2: // NCF for a few sqns
				k := ncf(s+uint32(a), s+uint32(a)+uint32(b%4))
				k.TSI = tsis[cur]
				pkt = k
			case 3: // time passes
				now = now.Add(time.Duration(a) * time.Duration(b%16+1) * ms)
				r.HandleTimeout(now)
			case 4: // base moves on
				base[cur] += uint32(a)
			case 6: // garbage
				n := int(a % 64)
				g := prog[min(i, len(prog)):min(i+n, len(prog))]
				i += n
				_ = r.HandleDatagram(now, src, g)
			case 7:
				cur = 1 - cur
			case 8: // a far jump
				base[cur] += uint32(a)<<24 | uint32(b)<<16
			}
			if pkt != nil {
				bs, err := pkt.Append(nil)
				if err != nil {
					t.Fatal(err)
				}
				_ = r.HandleDatagram(now, src, bs)
			}
			if err := r.CheckInvariants(); err != nil { // before Deadline tidies up
				t.Fatal(err)
			}
			check()
		}
	})
}
