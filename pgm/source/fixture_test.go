package source_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/internal/fixture"
	"github.com/tickcast/tickcast/pgm/source"
	"github.com/tickcast/tickcast/pgm/wire"
)

// A Source configured like the libzmq PUB of a capture (its TSI, NLA,
// group and libzmq's 80-packet window) and given the same APDUs produces
// byte-identical packets: the three SPMs of the start and every ODATA. Given
// the NAKs libzmq's SUB sent, it answers with byte-identical NCFs and
// repairs.
func TestLibzmqFixtures(t *testing.T) {
	for _, name := range fixture.Names() {
		t.Run(name, func(t *testing.T) {
			var s *source.Source
			var p wire.Packet
			now := t0
			var spms, ncfs, theirNCFs [][]byte
			ours, theirs := map[uint32][]byte{}, map[uint32][]byte{}
			collect := func() {
				for pkt := s.Poll(now); pkt != nil; pkt = s.Poll(now) {
					switch wire.Type(pkt[4]) {
					case wire.TypeSPM:
						spms = append(spms, bytes.Clone(pkt))
					case wire.TypeNCF:
						ncfs = append(ncfs, bytes.Clone(pkt))
					case wire.TypeRDATA:
						ours[uint32(pkt[16])<<24|uint32(pkt[17])<<16|uint32(pkt[18])<<8|uint32(pkt[19])] = bytes.Clone(pkt)
					}
				}
			}
			var capturedSPMs [][]byte
			for _, fp := range fixture.Packets(t, name) {
				now = now.Add(time.Millisecond)
				if err := wire.ParsePacket(fp.PGM, &p); err != nil {
					t.Fatal(err)
				}
				if s == nil && p.Header.Type == wire.TypeSPM {
					var err error
					s, err = source.New(source.Config{TSI: p.SPM.TSI, DataPort: p.SPM.DataPort, NLA: p.SPM.NLA,
						Group: group, Rate: -1, WindowSQNs: 80}, now)
					if err != nil {
						t.Fatal(err)
					}
					collect()
				}
				switch p.Header.Type {
				case wire.TypeSPM:
					capturedSPMs = append(capturedSPMs, fp.PGM)
				case wire.TypeODATA:
					pkt, err := s.Send(now, p.Data.Payload)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(pkt, fp.PGM) {
						t.Fatalf("ODATA %d:\n ours   %x\n libzmq %x", p.Data.SQN, pkt, fp.PGM)
					}
				case wire.TypeNAK:
					if err := s.HandlePacket(now, &p); err != nil {
						t.Fatalf("NAK %v: %v", p.NAK.AppendSQNs(nil), err)
					}
				case wire.TypeNCF:
					theirNCFs = append(theirNCFs, fp.PGM)
				case wire.TypeRDATA:
					theirs[p.Data.SQN] = fp.PGM
				}
				collect()
			}
			for i := range 3 {
				if !bytes.Equal(spms[i], capturedSPMs[i]) {
					t.Errorf("SPM %d:\n ours   %x\n libzmq %x", i, spms[i], capturedSPMs[i])
				}
			}
			if len(ncfs) != len(theirNCFs) {
				t.Fatalf("%d NCFs, libzmq sent %d", len(ncfs), len(theirNCFs))
			}
			for i := range ncfs {
				if !sameNCF(ncfs[i], theirNCFs[i]) {
					t.Errorf("NCF %d:\n ours   %x\n libzmq %x", i, ncfs[i], theirNCFs[i])
				}
			}
			if len(ours) != len(theirs) {
				t.Errorf("repaired %d sqns, libzmq %d", len(ours), len(theirs))
			}
			for q, b := range theirs {
				if !bytes.Equal(ours[q], b) {
					t.Errorf("RDATA %d:\n ours   %x\n libzmq %x", q, ours[q], b)
				}
			}
		})
	}
}

// sameNCF compares two NCFs by content: OpenPGM leaves the reserved byte of
// OPT_NAK_LIST uninitialised (so the checksum differs too).
func sameNCF(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y wire.NAK
	if x.Parse(a) != nil || y.Parse(b) != nil {
		return false
	}
	x.Options.Reserved, y.Options.Reserved = [len(x.Options.Reserved)]uint8{}, [len(y.Options.Reserved)]uint8{}
	return x == y
}
