package wire_test

import (
	"testing"

	"github.com/tickcast/tickcast/pgm/wire"
)

// 1428 bytes: libzmq's EPGM APDU, the typical size of a full ODATA payload.
const benchPayload = 1428

func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{36, benchPayload, benchPayload + 24} {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		b.Run(itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				_ = wire.Checksum(buf)
			}
		})
	}
}

// BenchmarkAppendODATA builds a complete ODATA: header, payload copy and
// checksum.
func BenchmarkAppendODATA(b *testing.B) {
	d := wire.Data{Type: wire.TypeODATA, TSI: testTSI, DataPort: 5555, Payload: make([]byte, benchPayload)}
	buf := make([]byte, 0, 2048)
	b.SetBytes(benchPayload)
	for b.Loop() {
		d.SQN++
		buf, _ = d.Append(buf[:0])
	}
}

func BenchmarkToRDATA(b *testing.B) {
	d := wire.Data{Type: wire.TypeODATA, TSI: testTSI, DataPort: 5555, Payload: make([]byte, benchPayload)}
	pkt, _ := d.Append(nil)
	for i := uint32(0); b.Loop(); i++ {
		_ = wire.ToRDATA(pkt, i)
	}
}

// BenchmarkParseODATA parses and checksums a full ODATA.
func BenchmarkParseODATA(b *testing.B) {
	d := wire.Data{Type: wire.TypeODATA, TSI: testTSI, DataPort: 5555, Payload: make([]byte, benchPayload)}
	pkt, _ := d.Append(nil)
	var p wire.Packet
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if err := wire.ParsePacket(pkt, &p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseNAKList(b *testing.B) {
	nak := wire.NAK{Type: wire.TypeNAK, TSI: testTSI, DataPort: 5555, Source: testNLA, Group: testGroup}
	sqns := make([]uint32, wire.MaxNAKSQNs)
	for i := range sqns {
		sqns[i] = uint32(i)
	}
	_ = nak.SetSQNs(sqns)
	pkt, _ := nak.Append(nil)
	var p wire.Packet
	for b.Loop() {
		if err := wire.ParsePacket(pkt, &p); err != nil {
			b.Fatal(err)
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
