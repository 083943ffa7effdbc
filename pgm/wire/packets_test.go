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

// The captured examples of the interop reference encode byte for byte,
// checksums included: a libzmq SPM, and a NAK a libzmq SUB sent, whose
// header carries the ports swapped.
func TestDocumentedExamples(t *testing.T) {
	spm := wire.SPM{TSI: testTSI, DataPort: 5555, Lead: 0xFFFFFFFF, NLA: testNLA}
	want := mustHex(t, "ce57 15b3 00 00 0fe5 b7c6d1bc038a 0000 | 00000000 00000000 ffffffff 0001 0000 7f000001")
	if got := mustAppend(t, &spm); !bytes.Equal(got, want) {
		t.Errorf("SPM\n got % x\nwant % x", got, want)
	}

	nak := wire.NAK{
		Type:     wire.TypeNAK,
		TSI:      wire.TSI{GSI: wire.GSI{0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}, SPort: 0x9c40},
		DataPort: 5555,
		SQN:      1,
		Source:   testNLA,
		Group:    testGroup,
	}
	want = mustHex(t, "15b3 9c40 08 00 b21e 0a0b0c0d0e0f 0000 | 00000001 0001 0000 7f000001 0001 0000 efc00101")
	if got := mustAppend(t, &nak); !bytes.Equal(got, want) {
		t.Errorf("NAK\n got % x\nwant % x", got, want)
	}
	var p wire.Packet
	if err := wire.ParsePacket(want, &p); err != nil || p.NAK != nak {
		t.Errorf("NAK parses to %+v, %v", p.NAK, err)
	}
	if p.Header.SourcePort != 5555 || p.Header.TSI() != nak.TSI || p.Header.DataPort() != 5555 {
		t.Errorf("header %+v", p.Header)
	}
}

// A NAK for one sequence number has no options; for 2 to 63 the first goes
// in the body and the others in OPT_NAK_LIST, with the options byte 0x03.
// OPT_NAK_LIST itself holds at most 62: a 63rd is refused.
func TestNAKLists(t *testing.T) {
	seq := func(n int) []uint32 {
		s := make([]uint32, n)
		for i := range s {
			s[i] = 0xFFFFFFF0 + uint32(i) // across the wrap
		}
		return s
	}
	for _, tc := range []struct {
		n       int
		ok      bool
		options byte
		length  int
	}{
		{1, true, 0, 36},
		{2, true, 0x03, 36 + 4 + 8},
		{62, true, 0x03, 36 + 4 + 4 + 4*61},
		{63, true, 0x03, 36 + 4 + 4 + 4*62},
		{64, false, 0, 0},
		{0, false, 0, 0},
	} {
		nak := wire.NAK{Type: wire.TypeNAK, TSI: testTSI, DataPort: 5555, Source: testNLA, Group: testGroup}
		err := nak.SetSQNs(seq(tc.n))
		if (err == nil) != tc.ok {
			t.Fatalf("%d sqns: SetSQNs err = %v", tc.n, err)
		}
		if !tc.ok {
			if !errors.Is(err, wire.ErrBadOption) {
				t.Errorf("%d sqns: err %v is not ErrBadOption", tc.n, err)
			}
			continue
		}
		pkt := mustAppend(t, &nak)
		if len(pkt) != tc.length || pkt[5] != tc.options || nak.Len() != len(pkt) {
			t.Errorf("%d sqns: %d bytes (Len %d), options %#x", tc.n, len(pkt), nak.Len(), pkt[5])
		}
		var p wire.Packet
		if err := wire.ParsePacket(pkt, &p); err != nil {
			t.Fatal(err)
		}
		if got := p.NAK.AppendSQNs(nil); !reflect.DeepEqual(got, seq(tc.n)) {
			t.Errorf("%d sqns: parsed %v", tc.n, got)
		}
	}

	var l wire.NAKList
	for i := range wire.MaxNAKList {
		if err := l.Add(uint32(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Add(62); !errors.Is(err, wire.ErrBadOption) || l.Len() != 62 {
		t.Fatalf("63rd entry: err %v, len %d", err, l.Len())
	}
}

// The option chain, corner by corner. Each input is the option area of a
// NAK (after its 20-byte body), with OPT_PRESENT set.
func TestOptions(t *testing.T) {
	nakList := func(n int, end bool) string {
		typ := "02"
		if end {
			typ = "82"
		}
		s := typ + hexByte(4+4*n) + "0000"
		for i := range n {
			s += "000000" + hexByte(i)
		}
		return s
	}
	for _, tc := range []struct {
		name string
		opts string
		err  error
		want func(o *wire.Options)
	}{
		{"FIN, as OpenPGM closes", "00040008 8e040000", nil, func(o *wire.Options) { o.Fin = true }},
		{"NAK list of 2 (captured)", "00040010 820c0000 00000002 00000003", nil, func(o *wire.Options) {
			_ = o.NAKList.Add(2)
			_ = o.NAKList.Add(3)
		}},
		{"NAK list with OpenPGM's uninitialised byte 2", "0004000c 8208d100 00000009", nil, func(o *wire.Options) {
			_ = o.NAKList.Add(9)
			o.Reserved[wire.OptNAKList] = 0xd1
		}},
		{"NAK list of 62", "0004" + hexWord(4+4+4*62) + nakList(62, true), nil, func(o *wire.Options) {
			for i := range 62 {
				_ = o.NAKList.Add(uint32(i))
			}
		}},
		{"NAK list of 63 does not fit the length byte", "0004" + hexWord(4+4+4*63) + "8200" + "0000" + nakList(63, true)[8:], wire.ErrBadOption, nil},
		{"NAK list of 63 split in two options", "0004" + hexWord(4+8+4*62) + nakList(1, false) + nakList(62, true), wire.ErrBadOption, nil},
		{"NAK list of 0", "00040008 82040000", wire.ErrBadOption, nil},
		{"NAK list length not a multiple of 4", "0004000a 82060000 0000", wire.ErrBadOption, nil},
		{"FRAGMENT", "00040014 81100000 00000001 00000002 00000003", nil, func(o *wire.Options) {
			o.HasFragment, o.Fragment = true, wire.Fragment{FirstSQN: 1, Offset: 2, Length: 3}
		}},
		{"FRAGMENT of the RFC's text length 12", "00040010 810c0000 00000001 00000002", wire.ErrBadOption, nil},
		{"JOIN", "0004000c 83080000 00000005", nil, func(o *wire.Options) { o.HasJoin, o.Join = true, 5 }},
		{"JOIN too short", "00040008 83040000", wire.ErrBadOption, nil},
		{"SYN", "00040008 8d040000", nil, func(o *wire.Options) { o.Syn = true }},
		{"SYN too long", "0004000c 8d080000 00000000", wire.ErrBadOption, nil},
		{"RST with N bit and code", "00040008 8f040045", nil, func(o *wire.Options) { o.HasRst, o.Rst = true, wire.Rst{N: true, Code: 5} }},
		{"PARITY_PRM", "0004000c 88080003 00000010", nil, func(o *wire.Options) {
			o.HasParityPrm, o.ParityPrm = true, wire.ParityPrm{Proactive: true, OnDemand: true, TGSize: 16}
		}},
		{"PARITY_GRP and CURR_TGSIZE", "00040014 09080000 00000002 8a080000 00000003", nil, func(o *wire.Options) {
			o.HasParityGrp, o.ParityGrp, o.HasCurrTGSize, o.CurrTGSize = true, 2, true, 3
		}},
		{"unknown options are skipped by length", "0004001a 21060000 0000 04 0c 0000 00000001 00000002 8e040000", nil, func(o *wire.Options) { o.Fin = true }},
		{"the last option may be unknown", "0004000c 0e040000 b1040000", nil, func(o *wire.Options) { o.Fin = true }},
		{"OPT_PRESENT without options", "", wire.ErrTruncated, nil},
		{"first option not OPT_LENGTH", "0e040008 80040000", wire.ErrBadOption, nil},
		{"OPT_LENGTH with END", "80040008 8e040000", wire.ErrBadOption, nil},
		{"OPT_LENGTH of length 8", "00080008 8e040000", wire.ErrBadOption, nil},
		{"OPT_LENGTH alone", "00040004", wire.ErrBadOption, nil},
		{"total beyond the packet", "0004000c 8e040000", wire.ErrTruncated, nil},
		{"option of length 0", "00040008 0e000000", wire.ErrBadOption, nil},
		{"option of length 3", "00040008 0e030000", wire.ErrBadOption, nil},
		{"option beyond the total", "00040008 8e080000 00000000", wire.ErrBadOption, nil},
		{"header beyond the total", "00040006 8e04 0000", wire.ErrBadOption, nil},
		{"no OPT_END", "00040008 0e040000", wire.ErrBadOption, nil},
		{"OPT_END before the total", "0004000c 8e040000 8d040000", wire.ErrBadOption, nil},
		{"OPT_LENGTH twice", "0004000c 00040000 8e040000", wire.ErrBadOption, nil},
		{"FIN twice", "0004000c 0e040000 8e040000", wire.ErrBadOption, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nak := mustAppend(t, &wire.NAK{Type: wire.TypeNAK, TSI: testTSI, DataPort: 5555, Source: testNLA, Group: testGroup})
			pkt := append(nak, mustHex(t, tc.opts)...)
			pkt[5] |= wire.HdrOptPresent
			binary.BigEndian.PutUint16(pkt[6:], wire.Checksum(pkt))
			var p wire.Packet
			err := wire.ParsePacket(pkt, &p)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if tc.err != nil {
				return
			}
			var want wire.Options
			tc.want(&want)
			if p.NAK.Options != want {
				t.Fatalf("parsed\n%+v\nwant\n%+v", p.NAK.Options, want)
			}
			checkRoundTrip(t, &p)
		})
	}
}

func hexByte(v int) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[v>>4&15], digits[v&15]})
}

func hexWord(v int) string { return hexByte(v>>8) + hexByte(v) }

// Options encode in type order with OPT_END on the last one, OPT_LENGTH
// counting them all, and set OPT_NETWORK for a NAK list or FEC parameters.
func TestOptionsEncoding(t *testing.T) {
	var o wire.Options
	if o.Len() != 0 || !o.IsZero() {
		t.Fatal("zero Options is not empty")
	}
	if b, _ := o.Append(nil); len(b) != 0 {
		t.Fatalf("empty options encode as % x", b)
	}
	o = wire.Options{HasFragment: true, Fragment: wire.Fragment{FirstSQN: 1, Offset: 2, Length: 3}, HasJoin: true, Join: 4, Syn: true, Fin: true}
	b, err := o.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := mustHex(t, "00040024 01100000 00000001 00000002 00000003 03080000 00000004 0d040000 8e040000")
	if !bytes.Equal(b, want) || o.Len() != len(want) {
		t.Fatalf("got % x (Len %d)\nwant % x", b, o.Len(), want)
	}
	for _, tc := range []struct {
		o     wire.Options
		flags byte
	}{
		{wire.Options{Fin: true}, wire.HdrOptPresent},
		{wire.Options{HasParityPrm: true}, wire.HdrOptPresent | wire.HdrOptNetwork},
	} {
		spm := wire.SPM{TSI: testTSI, NLA: testNLA, Options: tc.o}
		if pkt := mustAppend(t, &spm); pkt[5] != tc.flags {
			t.Errorf("%+v: options byte %#x, want %#x", tc.o, pkt[5], tc.flags)
		}
	}
	o = wire.Options{HasRst: true, Rst: wire.Rst{Code: 64}}
	if _, err := o.Append(nil); !errors.Is(err, wire.ErrBadOption) {
		t.Fatalf("RST code 64: err = %v", err)
	}
}

// Every packet type round-trips, with IPv4 and IPv6 NLAs and options.
func TestPacketRoundTrips(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1")
	grp6 := netip.MustParseAddr("ff15::1")
	mapped := netip.MustParseAddr("::ffff:10.0.0.1")
	list := wire.Options{}
	_ = list.NAKList.Add(42)
	for _, pkt := range []appender{
		&wire.SPM{TSI: testTSI, DataPort: 5555, SQN: 1, Trail: 2, Lead: 3, NLA: testNLA},
		&wire.SPM{TSI: testTSI, DataPort: 5555, NLA: v6, Options: wire.Options{Fin: true}},
		&wire.SPM{TSI: testTSI, DataPort: 5555, NLA: mapped, Options: wire.Options{HasParityPrm: true, ParityPrm: wire.ParityPrm{OnDemand: true, TGSize: 8}}},
		&wire.Data{Type: wire.TypeODATA, TSI: testTSI, DataPort: 5555, SQN: 9, Trail: 1, Payload: []byte("hello")},
		&wire.Data{Type: wire.TypeRDATA, TSI: testTSI, DataPort: 5555, SQN: 9, Payload: []byte{}},
		&wire.Data{Type: wire.TypeODATA, TSI: testTSI, DataPort: 5555, Options: wire.Options{HasFragment: true, Fragment: wire.Fragment{Length: 3}}, Payload: []byte("abc")},
		&wire.NAK{Type: wire.TypeNAK, TSI: testTSI, DataPort: 5555, SQN: 5, Source: testNLA, Group: testGroup, Options: list},
		&wire.NAK{Type: wire.TypeNNAK, TSI: testTSI, DataPort: 5555, Source: v6, Group: grp6},
		&wire.NAK{Type: wire.TypeNCF, TSI: testTSI, DataPort: 5555, Source: testNLA, Group: grp6},
		&wire.SPMR{TSI: testTSI, DataPort: 5555},
	} {
		b := mustAppend(t, pkt)
		var p wire.Packet
		if err := wire.ParsePacket(b, &p); err != nil {
			t.Fatalf("%T: %v", pkt, err)
		}
		checkRoundTrip(t, &p)
		// The parsed body is the value that was encoded.
		var got any
		switch v := pkt.(type) {
		case *wire.SPM:
			got = &p.SPM
		case *wire.Data:
			got = &p.Data
			if len(v.Payload) == 0 {
				v.Payload = p.Data.Payload // nil and empty are the same payload
			}
		case *wire.NAK:
			got = &p.NAK
		case *wire.SPMR:
			got = &p.SPMR
		}
		if !reflect.DeepEqual(got, pkt) {
			t.Errorf("encoded %+v\nparsed %+v", pkt, got)
		}
	}
	// A NAK's body is 20 bytes with IPv4 NLAs and 44 with IPv6 ones.
	if n := (&wire.NAK{Type: wire.TypeNAK, Source: v6, Group: grp6}).Len(); n != wire.HeaderLen+44 {
		t.Errorf("IPv6 NAK Len %d", n)
	}
}

// What Append refuses.
func TestAppendErrors(t *testing.T) {
	for _, tc := range []struct {
		p   appender
		err error
	}{
		{&wire.SPM{TSI: testTSI}, wire.ErrBadNLA},
		{&wire.NAK{Type: wire.TypeNAK, Source: testNLA}, wire.ErrBadNLA},
		{&wire.NAK{Type: wire.TypeODATA, Source: testNLA, Group: testGroup}, wire.ErrUnknownType},
		{&wire.Data{Type: wire.TypeSPM}, wire.ErrUnknownType},
		{&wire.Data{Type: wire.TypeODATA, Payload: make([]byte, 0x10000)}, wire.ErrBadLength},
	} {
		b, err := tc.p.Append([]byte("keep"))
		if !errors.Is(err, tc.err) || string(b) != "keep" {
			t.Errorf("%+v: err %v, buffer % x", tc.p, err, b)
		}
	}
}

// What ParsePacket refuses, and that the refusals are clean.
func TestParseErrors(t *testing.T) {
	odata := mustAppend(t, &wire.Data{Type: wire.TypeODATA, TSI: testTSI, DataPort: 5555, Payload: []byte("abc")})
	withType := func(pkt []byte, typ byte) []byte {
		b := bytes.Clone(pkt)
		b[4] = typ
		binary.BigEndian.PutUint16(b[6:], wire.Checksum(b))
		return b
	}
	tamper := func(pkt []byte, f func(b []byte)) []byte {
		b := bytes.Clone(pkt)
		f(b)
		binary.BigEndian.PutUint16(b[6:], wire.Checksum(b))
		return b
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		err  error
	}{
		{"empty", nil, wire.ErrTruncated},
		{"15 bytes", odata[:15], wire.ErrTruncated},
		{"version 1", withType(odata, 0x44), wire.ErrBadVersion},
		{"type 0x03", withType(odata, 0x03), wire.ErrUnknownType},
		{"type 0x3f", withType(odata, 0x3f), wire.ErrUnknownType},
		{"POLL", withType(odata, 0x01), wire.ErrUnsupported},
		{"POLR", withType(odata, 0x02), wire.ErrUnsupported},
		{"ACK", withType(odata, 0x0d), wire.ErrUnsupported},
		{"parity ODATA", tamper(odata, func(b []byte) { b[5] |= wire.HdrOptParity }), wire.ErrUnsupported},
		{"TSDU length too big", tamper(odata, func(b []byte) { b[15]++ }), wire.ErrBadLength},
		{"TSDU length too small", tamper(odata, func(b []byte) { b[15]-- }), wire.ErrBadLength},
		{"bad checksum", func() []byte { b := bytes.Clone(odata); b[6]++; return b }(), wire.ErrBadChecksum},
		{"ODATA without its trail", tamper(odata[:20], func(b []byte) {}), wire.ErrTruncated},
		{"SPM with AFI 3", tamper(mustAppend(t, &wire.SPM{NLA: testNLA}), func(b []byte) { b[29] = 3 }), wire.ErrBadNLA},
		{"NAK with a truncated group NLA", tamper(mustAppend(t, &wire.NAK{Type: wire.TypeNAK, Source: testNLA, Group: testGroup})[:34], func(b []byte) {}), wire.ErrTruncated},
	} {
		var p wire.Packet
		if err := wire.ParsePacket(tc.pkt, &p); !errors.Is(err, tc.err) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
		}
	}
	// Unsupported packets still report their header.
	var p wire.Packet
	if err := wire.ParsePacket(withType(odata, 0x01), &p); p.Header.Type != wire.TypePOLL || p.Header.TSI() != testTSI {
		t.Errorf("POLL header %+v (%v)", p.Header, err)
	}
	// The typed Parse methods refuse other types.
	for _, parse := range []func([]byte) error{(&wire.SPM{}).Parse, (&wire.NAK{}).Parse, (&wire.SPMR{}).Parse} {
		if err := parse(odata); !errors.Is(err, wire.ErrUnknownType) {
			t.Errorf("parsing ODATA as another type: %v", err)
		}
	}
	if err := (&wire.Data{}).Parse(mustAppend(t, &wire.SPMR{})); !errors.Is(err, wire.ErrUnknownType) {
		t.Errorf("parsing SPMR as Data: %v", err)
	}
}

// Every strict prefix of every packet type fails cleanly. Checksums are
// dropped (0) where allowed, so that the structure checks are what fail.
func TestTruncatedPackets(t *testing.T) {
	list := wire.Options{Fin: true}
	_ = list.NAKList.Add(1)
	for _, pkt := range [][]byte{
		mustAppend(t, &wire.SPM{TSI: testTSI, NLA: netip.MustParseAddr("2001:db8::1"), Options: wire.Options{Fin: true}}),
		mustAppend(t, &wire.NAK{Type: wire.TypeNCF, TSI: testTSI, Source: testNLA, Group: testGroup, Options: list}),
		mustAppend(t, &wire.SPMR{TSI: testTSI, Options: wire.Options{Syn: true}}),
	} {
		for n := range len(pkt) {
			b := bytes.Clone(pkt[:n])
			if n >= 8 {
				b[6], b[7] = 0, 0
			}
			var p wire.Packet
			if err := wire.ParsePacket(b, &p); !errors.Is(err, wire.ErrTruncated) {
				t.Errorf("%v cut to %d bytes: err = %v", wire.Type(pkt[4]), n, err)
			}
		}
	}
}

// Bytes after the body of an SPM, NAK or SPMR without options are ignored,
// as OpenPGM does; an ODATA's payload is what follows its body, so there it
// is a length error.
func TestTrailingBytes(t *testing.T) {
	spm := mustAppend(t, &wire.SPM{TSI: testTSI, NLA: testNLA})
	spm = append(spm, 1, 2, 3)
	binary.BigEndian.PutUint16(spm[6:], wire.Checksum(spm))
	var p wire.Packet
	if err := wire.ParsePacket(spm, &p); err != nil {
		t.Fatal(err)
	}
	if out := checkRoundTrip(t, &p); len(out) != len(spm)-3 {
		t.Fatalf("re-encoded %d bytes", len(out))
	}
}

// The parsed payload aliases the input: no copy.
func TestDataPayloadAliasesInput(t *testing.T) {
	pkt := mustAppend(t, &wire.Data{Type: wire.TypeODATA, TSI: testTSI, Payload: []byte("zero copy")})
	var d wire.Data
	if err := d.Parse(pkt); err != nil {
		t.Fatal(err)
	}
	if &d.Payload[0] != &pkt[wire.HeaderLen+8] {
		t.Fatal("payload was copied")
	}
}

func TestHeader(t *testing.T) {
	h := wire.Header{SourcePort: 1, DestPort: 2, Type: wire.TypeNAK, Options: 3, Checksum: 4, GSI: wire.GSI{5, 6, 7, 8, 9, 10}, TSDULength: 11}
	b := h.Append(nil)
	if got, err := wire.ParseHeader(b); err != nil || got != h || len(b) != wire.HeaderLen {
		t.Fatalf("%+v, %v", got, err)
	}
	if h.TSI() != (wire.TSI{GSI: h.GSI, SPort: 2}) || h.DataPort() != 1 {
		t.Fatal("upstream header: TSI port is the dport")
	}
	h.Type = wire.TypeNCF
	if h.TSI() != (wire.TSI{GSI: h.GSI, SPort: 1}) || h.DataPort() != 2 {
		t.Fatal("downstream header: TSI port is the sport")
	}
	if s := h.TSI().String(); s != "5.6.7.8.9.10.1" {
		t.Errorf("TSI string %q", s)
	}
	for typ, name := range map[wire.Type]string{wire.TypeSPM: "SPM", wire.TypeNCF: "NCF", 0x03: "Type(0x3)"} {
		if typ.String() != name {
			t.Errorf("%#x: %q", uint8(typ), typ.String())
		}
	}
	for _, typ := range []wire.Type{wire.TypeNAK, wire.TypeNNAK, wire.TypeSPMR, wire.TypePOLR, wire.TypeACK} {
		if !typ.Upstream() {
			t.Errorf("%v is upstream", typ)
		}
	}
}
