package apdu_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/tickcast/tickcast/pgm/apdu"
)

func mkAPDU(offset int, data ...byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(offset)), data...)
}

// select returns the messages i for which keep(i) holds.
func selectMessages(msgs [][][]byte, keep func(i int) bool) [][][]byte {
	var out [][][]byte
	for i, m := range msgs {
		if keep(i) {
			out = append(out, m)
		}
	}
	return out
}

// Joining at APDU k of a stream delivers exactly the messages that begin at
// or after the first byte of APDU k.
func TestDecoderJoinsAtTheFirstBoundary(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, max := range []int{3, 5, 12, 64, 300} {
		msgs := randomMessages(r, 30, 25*max)
		starts, _ := spans(msgs)
		apdus := packAll(t, max, msgs)
		d := max - 2
		for k := range apdus {
			var dec apdu.Decoder
			got := decodeAll(t, &dec, apdus[k:])
			want := selectMessages(msgs, func(i int) bool { return starts[i] >= k*d })
			if !equalMessages(got, want) {
				t.Fatalf("max %d, join at APDU %d: got %d messages, want %d", max, k, len(got), len(want))
			}
		}
	}
}

// Losing APDU k and calling Reset delivers the messages wholly before it and
// those that begin after it, never a message that overlaps it; a message cut
// in the middle is counted as discarded.
func TestDecoderLossResetResync(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, max := range []int{3, 6, 12, 64, 300} {
		msgs := randomMessages(r, 30, 25*max)
		starts, ends := spans(msgs)
		apdus := packAll(t, max, msgs)
		d := max - 2
		for k := range apdus {
			var dec apdu.Decoder
			got := decodeAll(t, &dec, apdus[:k])
			dec.Reset() // what the state machine does when PGM reports the loss of APDU k
			got = append(got, decodeAll(t, &dec, apdus[k+1:])...)
			lost, next := k*d, (k+1)*d
			want := selectMessages(msgs, func(i int) bool { return ends[i] <= lost || starts[i] >= next })
			if !equalMessages(got, want) {
				t.Fatalf("max %d, APDU %d lost: got %d messages, want %d", max, k, len(got), len(want))
			}
			cut := 0
			for i := range msgs {
				if starts[i] < lost && lost < ends[i] {
					cut = 1
				}
			}
			if s := dec.Stats(); s.Discarded != uint64(cut) || s.Messages != uint64(len(want)) || s.Errors != 0 {
				t.Fatalf("max %d, APDU %d lost: stats %+v, want %d discarded", max, k, s, cut)
			}
		}
	}
}

// The libzmq#3768 scenario: a three-frame message loses its middle APDU.
// libzmq pushes the first frame and then glues the next message's frames
// onto it; Decoder drops the cut message whole and delivers the next one.
func TestDecoderNeverMergesACutMessage(t *testing.T) {
	p := mustPacker(t, 10)
	_ = p.Add(msg("TOPIC", "first-part", "second-part")...)
	_ = p.Add(msg("NEXT", "whole")...)
	p.Flush()
	apdus := takeAll(p)
	var d apdu.Decoder
	got := decodeAll(t, &d, apdus[:1])
	d.Reset() // apdus[1] lost
	for _, a := range apdus[2:] {
		if err := d.Feed(a); err != nil {
			t.Fatal(err)
		}
		got = append(got, drain(&d)...)
	}
	if want := [][][]byte{msg("NEXT", "whole")}; !equalMessages(got, want) {
		t.Fatalf("got %q", got)
	}
	if s := d.Stats(); s.Discarded != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// Once joined the offset is ignored, as libzmq does: the stream is
// continuous, whatever the offsets say.
func TestDecoderIgnoresOffsetsOnceJoined(t *testing.T) {
	var d apdu.Decoder
	got := decodeAll(t, &d, [][]byte{
		mkAPDU(0, 0x04, 0x01, 'a', 'b'),
		mkAPDU(0xFFFF, 'c', 0x02),
		mkAPDU(0x1234, 0x00, 'd'), // an offset beyond the end, ignored once joined
	})
	if want := [][][]byte{msg("abc", "d")}; !equalMessages(got, want) {
		t.Fatalf("got %q", got)
	}
}

// Malformed input returns an error, is counted, drops the message in
// progress and never panics; decoding resumes at the next boundary.
func TestDecoderMalformedInput(t *testing.T) {
	good := mkAPDU(0, 0x02, 0x00, 'z') // one message: "z"
	for _, tc := range []struct {
		name      string
		apdus     [][]byte
		err       error
		delivered [][][]byte
	}{
		{"empty APDU", [][]byte{{}}, apdu.ErrShortAPDU, nil},
		{"1-byte APDU", [][]byte{{0x00}}, apdu.ErrShortAPDU, nil},
		{"offset beyond the end on join", [][]byte{mkAPDU(3, 'a', 'b')}, apdu.ErrBadOffset, nil},
		{"offset 0xFFFE", [][]byte{mkAPDU(0xFFFE, 'a')}, apdu.ErrBadOffset, nil},
		{"zero length byte", [][]byte{mkAPDU(0, 0x00)}, apdu.ErrBadFrame, nil},
		{"zero long length", [][]byte{mkAPDU(0, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0)}, apdu.ErrBadFrame, nil},
		{"zero long length split over APDUs", [][]byte{mkAPDU(0, 0xFF, 0, 0, 0), mkAPDU(0xFFFF, 0, 0, 0, 0, 0)}, apdu.ErrBadFrame, nil},
		{"2^64-1 long length", [][]byte{mkAPDU(0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)}, apdu.ErrTooLarge, nil},
		{"short APDU while joined", [][]byte{mkAPDU(0, 0x03, 0x01, 'a'), {0x00}}, apdu.ErrShortAPDU, nil},
		{"messages before the error survive", [][]byte{mkAPDU(0, 0x02, 0x00, 'x', 0x02, 0x00, 'y', 0x00)}, apdu.ErrBadFrame, [][][]byte{msg("x"), msg("y")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d apdu.Decoder
			var err error
			var got [][][]byte
			for _, a := range tc.apdus {
				if e := d.Feed(a); e != nil {
					err = e
				}
				got = append(got, drain(&d)...)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if !equalMessages(got, tc.delivered) {
				t.Fatalf("delivered %q", got)
			}
			if d.Joined() || d.Stats().Errors != 1 {
				t.Fatalf("after the error: joined %v, stats %+v", d.Joined(), d.Stats())
			}
			// Resynchronisation: continuation APDUs are skipped, then the
			// next boundary is decoded.
			got = decodeAll(t, &d, [][]byte{mkAPDU(0xFFFF, 'q', 'q'), good})
			if !equalMessages(got, [][][]byte{msg("z")}) || d.Stats().Skipped != 1 {
				t.Fatalf("after resync: %q, stats %+v", got, d.Stats())
			}
		})
	}
}

// An offset equal to the data length joins at the very end of the APDU.
func TestDecoderJoinAtEndOfAPDU(t *testing.T) {
	var d apdu.Decoder
	got := decodeAll(t, &d, [][]byte{mkAPDU(2, 'x', 'x'), mkAPDU(0xFFFF, 0x02, 0x00, 'a')})
	if !equalMessages(got, [][][]byte{msg("a")}) {
		t.Fatalf("got %q", got)
	}
}

// MaxMessageSize bounds the bodies of a message and MaxFrames its frames;
// a message exactly at the limits passes.
func TestDecoderLimits(t *testing.T) {
	enc := func(m [][]byte) []byte {
		var b []byte
		for i, f := range m {
			b = apdu.AppendFrame(b, f, i < len(m)-1)
		}
		return mkAPDU(0, b...)
	}
	for _, tc := range []struct {
		name   string
		m      [][]byte
		err    error
		frames int
	}{
		{"at the size limit", [][]byte{make([]byte, 60), make([]byte, 40)}, nil, 0},
		{"one byte over", [][]byte{make([]byte, 60), make([]byte, 41)}, apdu.ErrTooLarge, 0},
		{"one long frame over", [][]byte{make([]byte, 300)}, apdu.ErrTooLarge, 0},
		{"at the frame limit", [][]byte{{}, {}, {}, {}}, nil, 4},
		{"one frame over", [][]byte{{}, {}, {}, {}, {}}, apdu.ErrTooLarge, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := apdu.Decoder{MaxMessageSize: 100, MaxFrames: 4}
			err := d.Feed(enc(tc.m))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			got := drain(&d)
			if tc.err == nil && !equalMessages(got, [][][]byte{tc.m}) {
				t.Fatalf("got %d messages", len(got))
			}
		})
	}
	// The default limit is 1 MiB: a frame announcing 16 MiB is refused
	// before anything is buffered.
	var d apdu.Decoder
	head := binary.BigEndian.AppendUint64([]byte{0xFF}, 16<<20+1)
	if err := d.Feed(mkAPDU(0, head...)); !errors.Is(err, apdu.ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
}

// Frames returned by Next have no spare capacity, so appending to one cannot
// overwrite the next frame.
func TestDecoderFramesHaveNoSpareCapacity(t *testing.T) {
	var d apdu.Decoder
	_ = d.Feed(mkAPDU(0, 0x02, 0x01, 'a', 0x02, 0x00, 'b'))
	m := d.Next()
	_ = append(m[0], 'X')
	if !bytes.Equal(m[1], []byte("b")) {
		t.Fatalf("append to frame 0 changed frame 1: %q", m[1])
	}
}

// Reset at a message boundary discards nothing; complete messages not yet
// taken survive it.
func TestDecoderResetKeepsCompleteMessages(t *testing.T) {
	var d apdu.Decoder
	_ = d.Feed(mkAPDU(0, 0x02, 0x00, 'a', 0x02, 0x01, 'b'))
	d.Reset()
	if got := drain(&d); !equalMessages(got, [][][]byte{msg("a")}) {
		t.Fatalf("got %q", got)
	}
	if s := d.Stats(); s.Discarded != 1 || s.Messages != 1 {
		t.Fatalf("stats %+v", s)
	}
	d.Reset()
	if s := d.Stats(); s.Discarded != 1 {
		t.Fatalf("Reset at a boundary counted a discard: %+v", s)
	}
}
