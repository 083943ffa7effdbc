package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"testing"

	"github.com/tickcast/tickcast/pgm/internal/fixture"
	"github.com/tickcast/tickcast/pgm/wire"
)

// The packet counts of the fixtures' README table.
var fixtureCounts = map[string]map[wire.Type]int{
	"epgm-small":             {wire.TypeSPM: 11, wire.TypeODATA: 50},
	"epgm-single":            {wire.TypeSPM: 11, wire.TypeODATA: 20},
	"epgm-long":              {wire.TypeSPM: 11, wire.TypeODATA: 4},
	"epgm-large":             {wire.TypeSPM: 11, wire.TypeODATA: 73},
	"pgm-small":              {wire.TypeSPM: 11, wire.TypeODATA: 50},
	"epgm-2host-loss-single": {wire.TypeSPM: 8, wire.TypeODATA: 20, wire.TypeNAK: 3, wire.TypeNCF: 3, wire.TypeRDATA: 3},
	"epgm-2host-loss-small":  {wire.TypeSPM: 11, wire.TypeODATA: 50, wire.TypeNAK: 11, wire.TypeNCF: 11, wire.TypeRDATA: 13},
	"epgm-2host-loss-large":  {wire.TypeSPM: 11, wire.TypeODATA: 73, wire.TypeNAK: 6, wire.TypeNCF: 6, wire.TypeRDATA: 15},
}

// Every PGM packet libzmq put on the wire parses, carries a checksum that
// verifies, and re-encodes to the identical bytes.
func TestFixturePacketsParseAndReencodeIdentically(t *testing.T) {
	for _, name := range fixture.Names() {
		t.Run(name, func(t *testing.T) {
			counts := map[wire.Type]int{}
			var p wire.Packet
			for i, fp := range fixture.Packets(t, name) {
				pkt := fp.PGM
				if !fp.UDP {
					ip, payload, err := wire.ParseIPv4(fp.Datagram)
					if err != nil {
						t.Fatalf("packet %d: ParseIPv4: %v", i, err)
					}
					if !bytes.Equal(payload, pkt) || ip.Src != testNLA || ip.Dst != testGroup {
						t.Fatalf("packet %d: ParseIPv4 returned %+v and the wrong payload", i, ip)
					}
				}
				if err := wire.ParsePacket(pkt, &p); err != nil {
					t.Fatalf("packet %d: %v\n% x", i, err, pkt)
				}
				if got, want := wire.Checksum(pkt), binary.BigEndian.Uint16(pkt[6:]); got != want || want == 0 {
					t.Errorf("packet %d: checksum field %#04x, computed %#04x", i, want, got)
				}
				if got := reference(pkt); got != p.Header.Checksum {
					t.Errorf("packet %d: reference checksum %#04x, field %#04x", i, got, p.Header.Checksum)
				}
				if out := checkRoundTrip(t, &p); !bytes.Equal(out, pkt) {
					t.Errorf("packet %d (%v) re-encodes differently:\n got % x\nwant % x", i, p.Header.Type, out, pkt)
				}
				counts[p.Header.Type]++
			}
			if want := fixtureCounts[name]; !maps.Equal(counts, want) {
				t.Errorf("packet counts %v, want %v", counts, want)
			}
		})
	}
}

// The fixtures show the addressing rules the structs hide: every packet of a
// session, upstream NAKs included, carries the source's TSI and port 5555;
// NAKs name the SPM's path NLA and the group; NCFs mirror the NAKs.
func TestFixtureSessionsAreConsistent(t *testing.T) {
	for _, name := range fixture.Names() {
		t.Run(name, func(t *testing.T) {
			var p wire.Packet
			var tsi wire.TSI
			var spmNLA string
			var naks, ncfs [][]uint32
			fins := 0
			for i, fp := range fixture.Packets(t, name) {
				pkt := fp.PGM
				if err := wire.ParsePacket(pkt, &p); err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					tsi = p.Header.TSI()
				}
				if p.Header.TSI() != tsi || p.Header.DataPort() != 5555 {
					t.Fatalf("packet %d: TSI %v port %d, session TSI %v", i, p.Header.TSI(), p.Header.DataPort(), tsi)
				}
				switch p.Header.Type {
				case wire.TypeSPM:
					spmNLA = p.SPM.NLA.String()
					if p.SPM.Options.Fin {
						fins++
					}
				case wire.TypeNAK, wire.TypeNCF:
					if p.NAK.Source.String() != spmNLA || p.NAK.Group.String() != "239.192.1.1" {
						t.Errorf("packet %d: %v NLAs %v %v, SPM NLA %v", i, p.Header.Type, p.NAK.Source, p.NAK.Group, spmNLA)
					}
					wantFlags := uint8(0)
					if p.NAK.Options.NAKList.Len() > 0 {
						wantFlags = wire.HdrOptPresent | wire.HdrOptNetwork
					}
					if p.Header.Options != wantFlags {
						t.Errorf("packet %d: options byte %#x, want %#x", i, p.Header.Options, wantFlags)
					}
					if p.Header.Type == wire.TypeNAK {
						naks = append(naks, p.NAK.AppendSQNs(nil))
					} else {
						ncfs = append(ncfs, p.NAK.AppendSQNs(nil))
					}
				}
			}
			if fins != 3 && fins != 0 { // epgm-2host-loss-single stops before the close
				t.Errorf("%d SPMs with OPT_FIN, want the 3 of pgm_close", fins)
			}
			if len(naks) != len(ncfs) {
				t.Fatalf("%d NAKs, %d NCFs", len(naks), len(ncfs))
			}
			for i := range naks {
				if !equalSQNs(naks[i], ncfs[i]) {
					t.Errorf("NAK %d requests %v, its NCF confirms %v", i, naks[i], ncfs[i])
				}
			}
		})
	}
}

func equalSQNs(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Flipping any single bit outside the checksum field is detected.
func TestFixtureBitFlipsFailTheChecksum(t *testing.T) {
	var p wire.Packet
	for _, fp := range fixture.Packets(t, "epgm-2host-loss-small") {
		pkt := bytes.Clone(fp.PGM)
		for bit := 0; bit < 8*len(pkt); bit++ {
			if bit/8 == 6 || bit/8 == 7 {
				continue
			}
			pkt[bit/8] ^= 1 << (bit % 8)
			err := wire.ParsePacket(pkt, &p)
			pkt[bit/8] ^= 1 << (bit % 8)
			// Flips in the version bits or the type byte may be reported first.
			if !errors.Is(err, wire.ErrBadChecksum) && !errors.Is(err, wire.ErrBadVersion) && !errors.Is(err, wire.ErrUnknownType) {
				t.Fatalf("bit %d flipped: err = %v", bit, err)
			}
		}
	}
}
