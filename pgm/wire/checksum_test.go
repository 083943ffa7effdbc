package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/tickcast/tickcast/pgm/wire"
)

// The fast checksum equals the plain RFC 1071 computation for every length,
// alignment and content, the checksum field counting as zero.
func TestChecksumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	buf := make([]byte, 4096)
	for i := 0; i < 20000; i++ {
		n, off := r.IntN(3000), r.IntN(9)
		b := buf[off : off+n]
		switch i % 3 {
		case 0:
			for j := range b {
				b[j] = byte(r.Uint32())
			}
		case 1: // long runs of 0xFF make the end-around carries work hard
			for j := range b {
				b[j] = 0xFF
			}
		case 2:
			for j := range b {
				b[j] = byte(r.Uint32()) | 0xF0
			}
		}
		if got, want := wire.Checksum(b), reference(b); got != want {
			t.Fatalf("len %d: Checksum %#04x, reference %#04x", n, got, want)
		}
	}
}

// A packet whose sum is 0xFFFF has the checksum 0, which is sent as 0xFFFF
// (0 means "no checksum"). Receiving 0 is accepted for SPM, NAK, NCF, SPMR
// but not for ODATA/RDATA, as in OpenPGM.
func TestChecksumZeroIsSentAsFFFF(t *testing.T) {
	spmr := wire.SPMR{TSI: wire.TSI{GSI: wire.GSI{1, 2, 3, 4}, SPort: 0x9c40}, DataPort: 5555}
	pkt, _ := spmr.Append(nil)
	// Put the complement of the sum into the GSI's last word: the sum becomes
	// 0xFFFF and the checksum 0.
	cs := binary.BigEndian.Uint16(pkt[6:])
	spmr.TSI.GSI[4], spmr.TSI.GSI[5] = byte(cs>>8), byte(cs)
	pkt, _ = spmr.Append(pkt[:0])
	if got := binary.BigEndian.Uint16(pkt[6:]); got != 0xFFFF {
		t.Fatalf("checksum field %#04x, want 0xffff", got)
	}
	var p wire.Packet
	if err := wire.ParsePacket(pkt, &p); err != nil {
		t.Fatalf("0xFFFF checksum rejected: %v", err)
	}

	for _, tc := range []struct {
		pkt  []byte
		want error
	}{
		{pkt, nil},
		{mustAppend(t, &wire.SPM{TSI: testTSI, DataPort: 5555, NLA: testNLA}), nil},
		{mustAppend(t, &wire.NAK{Type: wire.TypeNAK, TSI: testTSI, DataPort: 5555, Source: testNLA, Group: testGroup}), nil},
		{mustAppend(t, &wire.NAK{Type: wire.TypeNCF, TSI: testTSI, DataPort: 5555, Source: testNLA, Group: testGroup}), nil},
		{mustAppend(t, &wire.Data{Type: wire.TypeODATA, TSI: testTSI, DataPort: 5555, Payload: []byte("x")}), wire.ErrBadChecksum},
		{mustAppend(t, &wire.Data{Type: wire.TypeRDATA, TSI: testTSI, DataPort: 5555, Payload: []byte("x")}), wire.ErrBadChecksum},
	} {
		tc.pkt[6], tc.pkt[7] = 0, 0
		if err := wire.ParsePacket(tc.pkt, &p); !errors.Is(err, tc.want) {
			t.Errorf("%v without checksum: err = %v, want %v", wire.Type(tc.pkt[4]), err, tc.want)
		}
	}
}

type appender interface{ Append([]byte) ([]byte, error) }

func mustAppend(t testing.TB, p appender) []byte {
	t.Helper()
	b, err := p.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ToRDATA rewrites a stored ODATA as an RDATA with a new trail and patches
// the checksum incrementally; the result equals a full recomputation for
// every trail, including those where the new checksum is 0 (sent as 0xFFFF).
func TestToRDATAUpdatesChecksumIncrementally(t *testing.T) {
	odata := wire.Data{Type: wire.TypeODATA, TSI: testTSI, DataPort: 5555, SQN: 7, Trail: 3, Payload: []byte("a payload")}
	orig := mustAppend(t, &odata)
	sawFFFF := false
	pkt := make([]byte, len(orig))
	for trail := uint32(0); trail < 1<<17; trail++ {
		copy(pkt, orig)
		if trail%2 == 1 {
			_ = wire.ToRDATA(pkt, trail^0xFFFF0000) // an RDATA rewritten again
		}
		if err := wire.ToRDATA(pkt, trail); err != nil {
			t.Fatal(err)
		}
		rdata := odata
		rdata.Type, rdata.Trail = wire.TypeRDATA, trail
		if want := mustAppend(t, &rdata); !bytes.Equal(pkt, want) {
			t.Fatalf("trail %d:\n got % x\nwant % x", trail, pkt, want)
		}
		sawFFFF = sawFFFF || binary.BigEndian.Uint16(pkt[6:]) == 0xFFFF
	}
	if !sawFFFF {
		t.Error("the 0xFFFF case was not exercised")
	}
	for _, bad := range [][]byte{orig[:20], mustAppend(t, &wire.SPM{TSI: testTSI, NLA: testNLA})} {
		if err := wire.ToRDATA(bad, 0); err == nil {
			t.Errorf("ToRDATA accepted % x", bad)
		}
	}
}
