package apdu_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/tickcast/tickcast/pgm/apdu"
)

func mustPacker(t testing.TB, max int) *apdu.Packer {
	t.Helper()
	p, err := apdu.NewPacker(max)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func takeAll(p *apdu.Packer) [][]byte {
	var out [][]byte
	for a := p.Next(); a != nil; a = p.Next() {
		out = append(out, bytes.Clone(a))
	}
	return out
}

func msg(frames ...string) [][]byte {
	m := make([][]byte, len(frames))
	for i, f := range frames {
		m[i] = []byte(f)
	}
	return m
}

// APDU layouts for small APDUs (10 bytes: 2 of offset, 8 of data), step by
// step. "flush" marks a Flush call.
func TestPackerLayout(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   [][][]byte // nil message = Flush
		want []string
	}{{
		name: "one message, flushed",
		in:   [][][]byte{msg("abc"), nil},
		want: []string{"0000 0400616263"},
	}, {
		name: "nothing is sent until the APDU is full or flushed",
		in:   [][][]byte{msg("abc")},
		want: nil,
	}, {
		name: "second message spills over; its end is the boundary of the next APDU",
		in:   [][][]byte{msg("abc"), msg("de"), nil},
		want: []string{"0000 0400616263030064", "0001 65"},
	}, {
		name: "a message that fills the APDU exactly is sent at once",
		in:   [][][]byte{msg("abcdef")},
		want: []string{"0000 0700616263646566"},
	}, {
		name: "after an exact fill the next message starts a new APDU at 0, flush adds nothing",
		in:   [][][]byte{msg("abcdef"), nil, msg("g"), nil},
		want: []string{"0000 0700616263646566", "0000 020067"},
	}, {
		name: "a long message: continuation APDUs carry 0xFFFF",
		in:   [][][]byte{msg("0123456789abcdefghij"), nil},
		want: []string{"0000 1500303132333435", "ffff 3637383961626364", "0006 65666768696a"},
	}, {
		name: "multipart: MORE on all frames but the last",
		in:   [][][]byte{msg("ab", "c"), nil},
		want: []string{"0000 03016162020063"},
	}, {
		name: "an empty frame",
		in:   [][][]byte{msg(""), nil},
		want: []string{"0000 0100"},
	}, {
		name: "the tail of a message, then a new one: the offset is where the tail ends",
		in:   [][][]byte{msg("0123456789"), msg("x"), nil},
		want: []string{"0000 0b00303132333435", "0004 36373839020078"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPacker(t, 10)
			var got []string
			for _, m := range tc.in {
				if m == nil {
					p.Flush()
				} else if err := p.Add(m...); err != nil {
					t.Fatal(err)
				}
				for _, a := range takeAll(p) {
					got = append(got, hexAPDU(a))
				}
			}
			want := tc.want
			if len(got) != len(want) {
				t.Fatalf("got %q, want %q", got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("APDU %d: got %q, want %q", i, got[i], want[i])
				}
			}
		})
	}
}

func hexAPDU(a []byte) string {
	const digits = "0123456789abcdef"
	s := []byte{}
	for i, c := range a {
		if i == 2 {
			s = append(s, ' ')
		}
		s = append(s, digits[c>>4], digits[c&15])
	}
	return string(s)
}

// randomMessages returns n messages mixing short and long frames (bodies of
// at most maxBody bytes), empty frames and multipart messages.
func randomMessages(r *rand.Rand, n, maxBody int) [][][]byte {
	var sizes []int
	for _, s := range []int{0, 1, 2, 5, 40, 252, 253, 254, 255, 300, 1000, 3000} {
		if s <= maxBody {
			sizes = append(sizes, s)
		}
	}
	msgs := make([][][]byte, n)
	for i := range msgs {
		frames := 1 + r.IntN(4)
		for range frames {
			f := make([]byte, sizes[r.IntN(len(sizes))])
			for j := range f {
				f[j] = byte(r.Uint32())
			}
			msgs[i] = append(msgs[i], f)
		}
	}
	return msgs
}

// spans returns where each message starts and ends in the data stream (the
// APDUs without their offsets).
func spans(msgs [][][]byte) (starts, ends []int) {
	pos := 0
	for _, m := range msgs {
		starts = append(starts, pos)
		for _, f := range m {
			pos += apdu.FrameLen(len(f))
		}
		ends = append(ends, pos)
	}
	return starts, ends
}

// packAll packs msgs into APDUs of at most max bytes, flushing only at the end.
func packAll(t testing.TB, max int, msgs [][][]byte) [][]byte {
	p := mustPacker(t, max)
	var out [][]byte
	for _, m := range msgs {
		if err := p.Add(m...); err != nil {
			t.Fatal(err)
		}
		out = append(out, takeAll(p)...)
	}
	p.Flush()
	return append(out, takeAll(p)...)
}

// Without flushes, APDU j holds stream bytes [jD, jD+D) where D = max-2, and
// its offset is the first message boundary (a message start, or the end of
// the last message) strictly inside that range, else 0xFFFF. Every APDU has
// data; all but the last are full.
func TestPackerOffsetsAreTheFirstBoundary(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, max := range []int{3, 4, 5, 12, 64, 300, apdu.MaxAPDUEPGM, apdu.MaxAPDUPGM} {
		msgs := randomMessages(r, 60, 3000)
		starts, ends := spans(msgs)
		boundaries := append(starts, ends[len(ends)-1])
		d := max - 2
		apdus := packAll(t, max, msgs)
		total := 0
		for j, a := range apdus {
			if len(a) < 3 || len(a) > max || (j < len(apdus)-1 && len(a) != max) {
				t.Fatalf("max %d: APDU %d of %d has %d bytes", max, j, len(apdus), len(a))
			}
			want := apdu.NoOffset
			for _, b := range boundaries {
				if b >= j*d && b < j*d+d {
					want = b - j*d
					break
				}
			}
			if got := int(binary.BigEndian.Uint16(a)); got != want {
				t.Fatalf("max %d: APDU %d offset %d, want %d", max, j, got, want)
			}
			total += len(a) - 2
		}
		if total != ends[len(ends)-1] {
			t.Fatalf("max %d: %d stream bytes packed, want %d", max, total, ends[len(ends)-1])
		}
	}
}

// Whatever the APDU size, packing then decoding gives the messages back.
func TestPackDecodeRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	msgs := randomMessages(r, 200, 3000)
	for _, max := range []int{3, 4, 7, 16, 100, 255, 256, apdu.MaxAPDUEPGM, apdu.MaxAPDUPGM, 0xFFFF} {
		var d apdu.Decoder
		if got := decodeAll(t, &d, packAll(t, max, msgs)); !equalMessages(got, msgs) {
			t.Fatalf("max %d: round trip lost messages (%d of %d)", max, len(got), len(msgs))
		}
	}
}

func TestPackerErrors(t *testing.T) {
	for _, max := range []int{-1, 0, 1, 2, 0x10000} {
		if _, err := apdu.NewPacker(max); err == nil {
			t.Errorf("NewPacker(%d) succeeded", max)
		}
	}
	var p apdu.Packer
	if err := p.Add(); !errors.Is(err, apdu.ErrEmptyMessage) {
		t.Errorf("Add() = %v, want ErrEmptyMessage", err)
	}
	p.Flush()
	if a := p.Next(); a != nil {
		t.Errorf("empty packer produced % x", a)
	}
}

// Next hands out APDUs in order; an APDU stays valid until the next Next,
// even across Add, and Pending/Buffered report the queue.
func TestPackerQueue(t *testing.T) {
	p := mustPacker(t, 10)
	_ = p.Add(msg("0123456789abcdefghijklmnopqrstu")...) // 33 bytes: 4 full APDUs and 1 byte
	if p.Pending() != 4 || p.Buffered() != 3 {
		t.Fatalf("Pending %d, Buffered %d", p.Pending(), p.Buffered())
	}
	first := p.Next()
	keep := bytes.Clone(first)
	_ = p.Add(msg("more data, more APDUs")...)
	if !bytes.Equal(first, keep) {
		t.Fatal("Add overwrote the APDU returned by Next")
	}
	p.Reset()
	if p.Pending() != 0 || p.Buffered() != 0 || p.Next() != nil {
		t.Fatal("Reset left APDUs")
	}
	_ = p.Add(msg("x")...)
	p.Flush()
	if got := hexAPDU(p.Next()); got != "0000 020078" {
		t.Fatalf("after Reset: %s", got)
	}
}

// The default APDU size is libzmq's EPGM PGM_MSS.
func TestPackerZeroValueUsesEPGMSize(t *testing.T) {
	var p apdu.Packer
	_ = p.Add(make([]byte, 5000))
	if a := p.Next(); len(a) != apdu.MaxAPDUEPGM {
		t.Fatalf("APDU of %d bytes", len(a))
	}
}
