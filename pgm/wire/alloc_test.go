package wire_test

import (
	"testing"

	"github.com/tickcast/tickcast/pgm/internal/fixture"
	"github.com/tickcast/tickcast/pgm/wire"
)

func zeroAllocs(t *testing.T, what string, f func()) {
	t.Helper()
	if n := testing.AllocsPerRun(100, f); n != 0 {
		t.Errorf("%s: %v allocations per run", what, n)
	}
}

// Parsing allocates nothing, for every packet type and for rejected packets.
func TestParseDoesNotAllocate(t *testing.T) {
	var p wire.Packet
	seen := map[wire.Type]bool{}
	for _, name := range []string{"epgm-2host-loss-small", "pgm-small"} {
		for _, fp := range fixture.Packets(t, name) {
			if err := wire.ParsePacket(fp.PGM, &p); err != nil {
				t.Fatal(err)
			}
			key := p.Header.Type
			if p.Header.Options != 0 {
				key |= 0x80 // the variants with options count separately
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			zeroAllocs(t, "ParsePacket "+p.Header.Type.String(), func() { _ = wire.ParsePacket(fp.PGM, &p) })
			if !fp.UDP {
				zeroAllocs(t, "ParseIPv4", func() { _, _, _ = wire.ParseIPv4(fp.Datagram) })
			}
		}
	}
	if len(seen) < 6 {
		t.Fatalf("only %d packet kinds seen", len(seen))
	}
	spmr := mustAppend(t, &wire.SPMR{TSI: testTSI})
	zeroAllocs(t, "ParsePacket SPMR", func() { _ = wire.ParsePacket(spmr, &p) })
	bad := append([]byte(nil), spmr...)
	bad[6]++
	zeroAllocs(t, "ParsePacket with a bad checksum", func() { _ = wire.ParsePacket(bad, &p) })
}

// Appending into a buffer with room allocates nothing.
func TestAppendDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 2048)
	odata := wire.Data{Type: wire.TypeODATA, TSI: testTSI, DataPort: 5555, SQN: 1, Payload: make([]byte, 1428)}
	spm := wire.SPM{TSI: testTSI, DataPort: 5555, NLA: testNLA, Options: wire.Options{Fin: true}}
	nak := wire.NAK{Type: wire.TypeNAK, TSI: testTSI, DataPort: 5555, Source: testNLA, Group: testGroup}
	if err := nak.SetSQNs([]uint32{1, 2, 3, 4, 5}); err != nil {
		t.Fatal(err)
	}
	ncf := nak
	ncf.Type = wire.TypeNCF
	spmr := wire.SPMR{TSI: testTSI, DataPort: 5555}
	for name, p := range map[string]appender{"ODATA": &odata, "SPM": &spm, "NAK": &nak, "NCF": &ncf, "SPMR": &spmr} {
		zeroAllocs(t, "Append "+name, func() { _, _ = p.Append(buf[:0]) })
	}
	pkt, _ := odata.Append(buf[:0])
	zeroAllocs(t, "ToRDATA", func() { _ = wire.ToRDATA(pkt, 9) })
}
