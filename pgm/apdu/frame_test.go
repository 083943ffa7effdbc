package apdu_test

import (
	"bytes"
	"testing"

	"github.com/tickcast/tickcast/pgm/apdu"
)

// v1 frames: the length byte counts the flags byte, and bodies over 253 bytes
// switch to 0xFF plus a 64-bit length (libzmq v1_encoder).
func TestAppendFrame(t *testing.T) {
	for _, tc := range []struct {
		n    int
		more bool
		head []byte
	}{
		{0, false, []byte{0x01, 0x00}},
		{5, false, []byte{0x06, 0x00}},
		{5, true, []byte{0x06, 0x01}},
		{253, false, []byte{0xFE, 0x00}},
		{254, false, []byte{0xFF, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0x00}},
		{300, false, []byte{0xFF, 0, 0, 0, 0, 0, 0, 0x01, 0x2D, 0x00}},
		{3000, true, []byte{0xFF, 0, 0, 0, 0, 0, 0, 0x0B, 0xB9, 0x01}},
	} {
		body := bytes.Repeat([]byte{'x'}, tc.n)
		got := apdu.AppendFrame([]byte("prefix"), body, tc.more)
		want := append(append([]byte("prefix"), tc.head...), body...)
		if !bytes.Equal(got, want) {
			t.Errorf("%d-byte body, more=%v: got % x, want header % x", tc.n, tc.more, got[6:min(len(got), 16)], tc.head)
		}
		if apdu.FrameLen(tc.n) != len(want)-6 {
			t.Errorf("FrameLen(%d) = %d, want %d", tc.n, apdu.FrameLen(tc.n), len(want)-6)
		}
	}
}
