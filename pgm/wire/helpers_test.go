package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/tickcast/tickcast/pgm/wire"
)

// encode re-encodes the body ParsePacket filled in for p.Header.Type and
// returns it with the Len the body announced.
func encode(p *wire.Packet, b []byte) ([]byte, int, error) {
	switch p.Header.Type {
	case wire.TypeSPM:
		out, err := p.SPM.Append(b)
		return out, p.SPM.Len(), err
	case wire.TypeODATA, wire.TypeRDATA:
		out, err := p.Data.Append(b)
		return out, p.Data.Len(), err
	case wire.TypeNAK, wire.TypeNNAK, wire.TypeNCF:
		out, err := p.NAK.Append(b)
		return out, p.NAK.Len(), err
	case wire.TypeSPMR:
		out, err := p.SPMR.Append(b)
		return out, p.SPMR.Len(), err
	}
	return nil, 0, errors.New("encode: unexpected type " + p.Header.Type.String())
}

// body returns the parsed body of p, for comparisons.
func body(p *wire.Packet) any {
	switch p.Header.Type {
	case wire.TypeSPM:
		return p.SPM
	case wire.TypeODATA, wire.TypeRDATA:
		return p.Data
	case wire.TypeNAK, wire.TypeNNAK, wire.TypeNCF:
		return p.NAK
	case wire.TypeSPMR:
		return p.SPMR
	}
	return nil
}

// checkRoundTrip asserts the codec's central property for a packet that
// parsed: it re-encodes to exactly Len bytes that parse to the same value.
func checkRoundTrip(t *testing.T, p *wire.Packet) []byte {
	t.Helper()
	out, n, err := encode(p, nil)
	if err != nil {
		t.Fatalf("re-encoding a parsed %v: %v", p.Header.Type, err)
	}
	if len(out) != n {
		t.Fatalf("%v: Len() = %d, Append wrote %d bytes", p.Header.Type, n, len(out))
	}
	var q wire.Packet
	if err := wire.ParsePacket(out, &q); err != nil {
		t.Fatalf("re-encoded %v does not parse: %v\n% x", p.Header.Type, err, out)
	}
	if q.Header.Type != p.Header.Type || q.Header.TSI() != p.Header.TSI() || q.Header.DataPort() != p.Header.DataPort() {
		t.Fatalf("header changed: %+v -> %+v", p.Header, q.Header)
	}
	if !reflect.DeepEqual(body(p), body(&q)) {
		t.Fatalf("value changed:\n%+v\n%+v", body(p), body(&q))
	}
	return out
}

// reference is the checksum computed the plain RFC 1071 way: 16-bit words,
// the checksum field zeroed, end-around carry, complement, 0 sent as 0xFFFF.
func reference(pkt []byte) uint16 {
	b := bytes.Clone(pkt)
	if len(b) >= 8 {
		b[6], b[7] = 0, 0
	} else if len(b) > 6 {
		b[6] = 0
	}
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	var s uint32
	for i := 0; i < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
		s = s&0xFFFF + s>>16
	}
	if ^uint16(s) == 0 {
		return 0xFFFF
	}
	return ^uint16(s)
}

var (
	testTSI   = wire.TSI{GSI: wire.GSI{0xb7, 0xc6, 0xd1, 0xbc, 0x03, 0x8a}, SPort: 0xce57}
	testNLA   = netip.MustParseAddr("127.0.0.1")
	testGroup = netip.MustParseAddr("239.192.1.1")
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' || s[i] == '|' {
			continue
		}
		var v byte
		for _, c := range []byte{s[i], s[i+1]} {
			switch {
			case c >= '0' && c <= '9':
				v = v<<4 | (c - '0')
			case c >= 'a' && c <= 'f':
				v = v<<4 | (c - 'a' + 10)
			default:
				t.Fatalf("bad hex %q", s)
			}
		}
		out = append(out, v)
		i++
	}
	return out
}
