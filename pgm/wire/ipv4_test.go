package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/tickcast/tickcast/pgm/wire"
)

// ipv4 builds an IPv4 datagram carrying payload, with IP options opts.
func ipv4(opts, payload []byte) []byte {
	ihl := 20 + len(opts)
	b := make([]byte, ihl, ihl+len(payload))
	b[0] = 0x40 | byte(ihl/4)
	binary.BigEndian.PutUint16(b[2:], uint16(ihl+len(payload)))
	binary.BigEndian.PutUint16(b[6:], 0x4000) // DF
	b[8], b[9] = 1, wire.IPProtoPGM
	copy(b[12:], []byte{10, 0, 0, 1, 239, 192, 1, 1})
	copy(b[20:], opts)
	return append(b, payload...)
}

// Raw PGM sockets deliver the IPv4 header, with or without options such as
// Router Alert; ParseIPv4 strips it and returns the PGM packet.
func TestParseIPv4(t *testing.T) {
	pgm := mustAppend(t, &wire.SPM{TSI: testTSI, DataPort: 5555, NLA: testNLA})
	routerAlert := []byte{0x94, 0x04, 0x00, 0x00}
	for _, tc := range []struct {
		name    string
		dgram   []byte
		ra      bool
		payload []byte
		err     error
	}{
		{"plain", ipv4(nil, pgm), false, pgm, nil},
		{"router alert", ipv4(routerAlert, pgm), true, pgm, nil},
		{"NOP, router alert, EOL", ipv4([]byte{1, 0x94, 4, 0, 0, 0, 0, 0}, pgm), true, pgm, nil},
		{"other option", ipv4([]byte{0x44, 4, 5, 0}, pgm), false, pgm, nil},
		{"link-layer padding after the datagram", append(ipv4(nil, pgm), 0, 0, 0, 0), false, pgm, nil},
		{"BSD: total length without the header", func() []byte {
			b := ipv4(nil, pgm)
			binary.BigEndian.PutUint16(b[2:], uint16(len(pgm)))
			return b
		}(), false, pgm, nil},
		{"truncated", ipv4(nil, pgm)[:30], false, nil, wire.ErrBadIPHeader},
		{"short header", ipv4(nil, pgm)[:19], false, nil, wire.ErrBadIPHeader},
		{"IHL 4", func() []byte { b := ipv4(nil, pgm); b[0] = 0x44; return b }(), false, nil, wire.ErrBadIPHeader},
		{"IHL beyond the datagram", func() []byte { b := ipv4(nil, nil); b[0] = 0x4f; return b }(), false, nil, wire.ErrBadIPHeader},
		{"IPv6", func() []byte { b := ipv4(nil, pgm); b[0] = 0x65; return b }(), false, nil, wire.ErrBadIPHeader},
		{"UDP", func() []byte { b := ipv4(nil, pgm); b[9] = 17; return b }(), false, nil, wire.ErrBadIPHeader},
		{"first fragment", func() []byte { b := ipv4(nil, pgm); b[6] = 0x20; return b }(), false, nil, wire.ErrBadIPHeader},
		{"later fragment", func() []byte { b := ipv4(nil, pgm); b[7] = 0x10; return b }(), false, nil, wire.ErrBadIPHeader},
		{"option overruns the header", ipv4([]byte{0x94, 0x08, 0, 0}, pgm), false, nil, wire.ErrBadIPHeader},
		{"option of length 1", ipv4([]byte{0x94, 0x01, 0, 0}, pgm), false, nil, wire.ErrBadIPHeader},
	} {
		h, payload, err := wire.ParseIPv4(tc.dgram)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if !bytes.Equal(payload, tc.payload) || h.RouterAlert != tc.ra || h.Src.String() != "10.0.0.1" || h.Dst != testGroup || h.TTL != 1 {
			t.Errorf("%s: %+v, payload % x", tc.name, h, payload)
		}
	}
}
