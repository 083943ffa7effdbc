package receiver_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/wire"
)

func benchReceiver(b *testing.B) *receiver.Receiver {
	cfg := config()
	cfg.WindowSQNs = 8192
	r, err := receiver.New(cfg, t0)
	if err != nil {
		b.Fatal(err)
	}
	if err := r.HandleDatagram(t0, src, encode(b, spm(0, 0, 0))); err != nil {
		b.Fatal(err)
	}
	return r
}

func drainAll(r *receiver.Receiver, now time.Time) {
	for {
		if _, ok := r.Poll(now); !ok {
			break
		}
	}
	for {
		if _, ok := r.Next(); !ok {
			break
		}
	}
}

// BenchmarkInOrder: the state machine alone (HandlePacket on a parsed
// packet), in-order ODATA of 1428 bytes, delivered with Next: one packet
// per op.
func BenchmarkInOrder(b *testing.B) {
	r := benchReceiver(b)
	var p wire.Packet
	d := odata(1, 0)
	d.Payload = make([]byte, 1428)
	if err := wire.ParsePacket(encode(b, d), &p); err != nil {
		b.Fatal(err)
	}
	now := t0
	b.SetBytes(1428)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		if err := r.HandlePacket(now, src, &p); err != nil {
			b.Fatal(err)
		}
		drainAll(r, now)
		p.Data.SQN++
	}
}

// BenchmarkInOrderDatagram is BenchmarkInOrder from the encoded datagram:
// parsing and checksum verification included.
func BenchmarkInOrderDatagram(b *testing.B) {
	r := benchReceiver(b)
	const ring = 4096
	pkts := make([][]byte, ring)
	for i := range pkts {
		d := odata(uint32(1+i), 0)
		d.Payload = make([]byte, 1428)
		pkts[i] = encode(b, d)
	}
	now := t0
	i := 0
	b.SetBytes(1428)
	b.ReportAllocs()
	for b.Loop() {
		if i == ring { // next lap: sqns on by ring, checksums redone off the clock
			b.StopTimer()
			for _, pkt := range pkts {
				binary.BigEndian.PutUint32(pkt[16:], binary.BigEndian.Uint32(pkt[16:])+ring)
				binary.BigEndian.PutUint16(pkt[6:], 0)
				binary.BigEndian.PutUint16(pkt[6:], wire.Checksum(pkt))
			}
			i = 0
			b.StartTimer()
		}
		now = now.Add(time.Microsecond)
		if err := r.HandleDatagram(now, src, pkts[i]); err != nil {
			b.Fatal(err)
		}
		drainAll(r, now)
		i++
	}
}

// BenchmarkWithLoss: 2% of the ODATA lost and repaired (gap, back-off,
// NAK, NCF, RDATA) at 10 000 packets/s of protocol time; one ODATA per op.
func BenchmarkWithLoss(b *testing.B) {
	r := benchReceiver(b)
	var data, repair, confirm, heartbeat wire.Packet
	d := odata(1, 0)
	d.Payload = make([]byte, 1428)
	_ = wire.ParsePacket(encode(b, d), &data)
	_ = wire.ParsePacket(encode(b, rdata(1, 0)), &repair)
	repair.Data.Payload, repair.Header.TSDULength = data.Data.Payload, 1428
	_ = wire.ParsePacket(encode(b, ncf(1)), &confirm)
	_ = wire.ParsePacket(encode(b, spm(0, 0, 0)), &heartbeat) // keeps the peer from expiring
	now := t0
	q := uint32(0)
	var pending [256]uint32 // repairs due, by q mod 256
	b.SetBytes(1428)
	b.ReportAllocs()
	for b.Loop() {
		q++
		now = now.Add(100 * time.Microsecond)
		if lost := pending[q%256]; lost != 0 {
			pending[q%256] = 0
			confirm.NAK.SQN, repair.Data.SQN = lost, lost
			_ = r.HandlePacket(now, src, &confirm)
			_ = r.HandlePacket(now, src, &repair)
		}
		if q%1000 == 0 {
			heartbeat.SPM.SQN++
			heartbeat.SPM.Lead = q - 1
			_ = r.HandlePacket(now, src, &heartbeat)
		}
		if q%50 == 0 {
			pending[(q+111)%256] = q // NAKed 10 ms after q+1, repaired 1 ms later
			continue
		}
		data.Data.SQN = q
		_ = r.HandlePacket(now, src, &data)
		drainAll(r, now)
	}
	if st := r.Stats(); b.N > 10000 && (st.NAKsSent == 0 || st.LostSQNs != 0) {
		b.Fatalf("stats %+v", st)
	}
}
