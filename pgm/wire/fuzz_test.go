package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/tickcast/tickcast/pgm/internal/fixture"
	"github.com/tickcast/tickcast/pgm/wire"
)

var sentinels = []error{
	wire.ErrTruncated, wire.ErrBadVersion, wire.ErrUnknownType, wire.ErrUnsupported,
	wire.ErrBadChecksum, wire.ErrBadOption, wire.ErrBadLength, wire.ErrBadNLA, wire.ErrBadIPHeader,
}

func checkSentinel(t *testing.T, err error) {
	t.Helper()
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %v wraps no sentinel", err)
}

// seedPackets returns every fixture packet plus encodings exercising the
// options and NLAs the fixtures lack.
func seedPackets(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, name := range fixture.Names() {
		for _, fp := range fixture.Packets(t, name) {
			seeds = append(seeds, fp.PGM)
			if !fp.UDP {
				seeds = append(seeds, fp.Datagram)
			}
		}
	}
	all := wire.Options{HasFragment: true, Fragment: wire.Fragment{FirstSQN: 1, Offset: 2, Length: 3}, HasJoin: true, Join: 4,
		HasParityPrm: true, ParityPrm: wire.ParityPrm{Proactive: true, TGSize: 8}, HasParityGrp: true, ParityGrp: 5,
		HasCurrTGSize: true, CurrTGSize: 6, Syn: true, Fin: true, HasRst: true, Rst: wire.Rst{N: true, Code: 7}}
	_ = all.NAKList.Add(9)
	v6 := netip.MustParseAddr("2001:db8::1")
	for _, p := range []appender{
		&wire.Data{Type: wire.TypeRDATA, TSI: testTSI, Options: all, Payload: []byte("payload")},
		&wire.SPM{TSI: testTSI, NLA: v6, Options: all},
		&wire.NAK{Type: wire.TypeNNAK, TSI: testTSI, Source: v6, Group: testGroup, Options: all},
		&wire.SPMR{TSI: testTSI, Options: all},
	} {
		b, _ := p.Append(nil)
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzParsePacket: no input panics, every error wraps a sentinel, and a
// packet that parses re-encodes to bytes that parse to the same value. Each
// input is tried as is and with its checksum fixed, so that the fuzzer gets
// past the checksum into the body and option parsers.
func FuzzParsePacket(f *testing.F) {
	for _, s := range seedPackets(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, payload, err := wire.ParseIPv4(b); err != nil {
			checkSentinel(t, err)
		} else if len(payload) > len(b) || !h.Src.Is4() {
			t.Fatalf("ParseIPv4: %d-byte payload from %d bytes", len(payload), len(b))
		}
		fixed := bytes.Clone(b)
		if len(fixed) >= wire.HeaderLen {
			binary.BigEndian.PutUint16(fixed[6:], wire.Checksum(fixed))
		}
		for _, in := range [][]byte{b, fixed} {
			var p wire.Packet
			if err := wire.ParsePacket(in, &p); err != nil {
				checkSentinel(t, err)
				continue
			}
			checkRoundTrip(t, &p)
		}
	})
}

// FuzzParseOptions: no input panics, and an option chain that parses
// re-encodes to a chain that parses to the same Options.
func FuzzParseOptions(f *testing.F) {
	for _, s := range seedPackets(f) {
		if len(s) < wire.HeaderLen {
			continue
		}
		for i := wire.HeaderLen; i+4 <= len(s); i++ {
			if s[i] == 0 && s[i+1] == 4 { // a plausible OPT_LENGTH
				f.Add(s[i:])
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var o wire.Options
		n, err := wire.ParseOptions(b, &o)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		if n > len(b) {
			t.Fatalf("consumed %d of %d bytes", n, len(b))
		}
		out, err := o.Append(nil)
		if err != nil || len(out) != o.Len() {
			t.Fatalf("re-encoding: %v, %d bytes, Len %d", err, len(out), o.Len())
		}
		if o.IsZero() { // only skipped options: nothing to encode
			if len(out) != 0 {
				t.Fatalf("empty options encode as % x", out)
			}
			return
		}
		var o2 wire.Options
		if n2, err := wire.ParseOptions(out, &o2); err != nil || n2 != len(out) || o2 != o {
			t.Fatalf("re-parsed %+v (%v), want %+v", o2, err, o)
		}
	})
}
