package apdu_test

import (
	"bytes"
	"testing"

	"github.com/tickcast/tickcast/pgm/apdu"
	"github.com/tickcast/tickcast/pgm/internal/fixture"
)

const (
	fuzzMaxSize   = 4096
	fuzzMaxFrames = 16
)

// FuzzDecoder feeds arbitrary bytes, cut into APDUs of chunk%64+1 bytes, to
// a Decoder. Nothing panics, every delivered message respects the limits,
// and the delivered messages survive a pack/decode round trip unchanged.
func FuzzDecoder(f *testing.F) {
	for _, name := range fixture.Names() {
		// The fixture's messages packed into 64-byte APDUs: with chunk 63 the
		// fuzzer's cutting reproduces the APDUs exactly.
		var stream []byte
		for _, a := range packAll(f, 64, fixture.Messages(f, name).Sent[:3]) {
			stream = append(stream, a...)
		}
		f.Add(stream, uint8(63))
	}
	f.Add([]byte{0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, uint8(10))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		d := apdu.Decoder{MaxMessageSize: fuzzMaxSize, MaxFrames: fuzzMaxFrames}
		var got [][][]byte
		size := int(chunk%64) + 1
		for len(data) > 0 {
			n := min(size, len(data))
			_ = d.Feed(data[:n])
			data = data[n:]
			for m := d.Next(); m != nil; m = d.Next() {
				if len(m) == 0 || len(m) > fuzzMaxFrames {
					t.Fatalf("message of %d frames", len(m))
				}
				total := 0
				for _, fr := range m {
					total += len(fr)
				}
				if total > fuzzMaxSize {
					t.Fatalf("message of %d bytes", total)
				}
				c := make([][]byte, len(m))
				for i, fr := range m {
					c[i] = bytes.Clone(fr)
				}
				got = append(got, c)
			}
		}
		if s := d.Stats(); s.Messages != uint64(len(got)) {
			t.Fatalf("stats %+v, %d messages delivered", s, len(got))
		}
		if len(got) == 0 {
			return
		}
		var again apdu.Decoder
		if back := decodeAll(t, &again, packAll(t, size+2, got)); !equalMessages(back, got) {
			t.Fatalf("round trip changed the messages")
		}
	})
}

// FuzzPackDecode builds messages from arbitrary bytes, packs them into APDUs
// of an arbitrary size and decodes them: the messages come back unchanged,
// and every APDU has data and an offset inside it (or NoOffset).
func FuzzPackDecode(f *testing.F) {
	f.Add([]byte("\x05hello\x83topic\x03abc\x00"), uint16(10))
	f.Add(bytes.Repeat([]byte{0xFE, 0xFF}, 300), uint16(1428))
	f.Fuzz(func(t *testing.T, data []byte, max uint16) {
		// Each frame is a length byte (low 7 bits, times 3 if the value is
		// over 100) and that many bytes; the top bit asks for MORE.
		var msgs [][][]byte
		var cur [][]byte
		for len(data) > 0 {
			l, more := int(data[0]&0x7F), data[0]&0x80 != 0
			if l > 100 {
				l *= 3
			}
			data = data[1:]
			l = min(l, len(data))
			cur = append(cur, data[:l])
			data = data[l:]
			if !more || len(data) == 0 {
				msgs, cur = append(msgs, cur), nil
			}
		}
		maxAPDU := int(max)%2000 + 3
		apdus := packAll(t, maxAPDU, msgs)
		for _, a := range apdus {
			off := int(a[0])<<8 | int(a[1])
			if len(a) < 3 || len(a) > maxAPDU || (off != apdu.NoOffset && off > len(a)-2) {
				t.Fatalf("APDU of %d bytes with offset %d", len(a), off)
			}
		}
		d := apdu.Decoder{MaxMessageSize: 1 << 30, MaxFrames: 1 << 30} // the limits are not under test here
		if got := decodeAll(t, &d, apdus); !equalMessages(got, msgs) {
			t.Fatalf("got %d messages, want %d", len(got), len(msgs))
		}
	})
}
