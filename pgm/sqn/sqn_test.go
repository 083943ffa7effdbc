package sqn_test

import (
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/sqn"
)

func TestComparisons(t *testing.T) {
	const half = 1 << 31
	for _, tc := range []struct {
		a, b              uint32
		less, greater, eq bool
		diff              int32
	}{
		{0, 1, true, false, false, 1},
		{1, 0, false, true, false, -1},
		{5, 5, false, false, true, 0},
		// across the wrap, 0xFFFFFFFF comes just before 0
		{0xFFFFFFFF, 0, true, false, false, 1},
		{0, 0xFFFFFFFF, false, true, false, -1},
		{0xFFFFFFF0, 0x10, true, false, false, 0x20},
		// the largest distance that still compares
		{0, half - 1, true, false, false, half - 1},
		{half - 1, 0, false, true, false, -(half - 1)},
		{0x80000000, 0xFFFFFFFF, true, false, false, half - 1},
		{0xFFFFFFFF, 0x7FFFFFFE, true, false, false, half - 1},
	} {
		if got := sqn.Less(tc.a, tc.b); got != tc.less {
			t.Errorf("Less(%#x, %#x) = %v", tc.a, tc.b, got)
		}
		if got := sqn.Greater(tc.a, tc.b); got != tc.greater {
			t.Errorf("Greater(%#x, %#x) = %v", tc.a, tc.b, got)
		}
		if got := sqn.LessEq(tc.a, tc.b); got != (tc.less || tc.eq) {
			t.Errorf("LessEq(%#x, %#x) = %v", tc.a, tc.b, got)
		}
		if got := sqn.GreaterEq(tc.a, tc.b); got != (tc.greater || tc.eq) {
			t.Errorf("GreaterEq(%#x, %#x) = %v", tc.a, tc.b, got)
		}
		if got := sqn.Diff(tc.a, tc.b); got != tc.diff {
			t.Errorf("Diff(%#x, %#x) = %d, want %d", tc.a, tc.b, got, tc.diff)
		}
	}
}

// Exactly 2^31 apart, RFC 1982 leaves the order undefined; OpenPGM's sn.h
// (and so this package) calls each number less than the other.
func TestHalfwayIsLessBothWays(t *testing.T) {
	for _, a := range []uint32{0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF} {
		b := a + 1<<31
		if !sqn.Less(a, b) || !sqn.Less(b, a) || !sqn.Greater(a, b) || !sqn.Greater(b, a) {
			t.Errorf("%#x and %#x", a, b)
		}
	}
}

func TestMaxMin(t *testing.T) {
	for _, tc := range []struct{ a, b, max uint32 }{
		{1, 2, 2},
		{0xFFFFFFFF, 0, 0},
		{0, 0xFFFFFFFF, 0},
		{7, 7, 7},
	} {
		if got := sqn.Max(tc.a, tc.b); got != tc.max {
			t.Errorf("Max(%#x, %#x) = %#x", tc.a, tc.b, got)
		}
		min := tc.a
		if tc.max == tc.a {
			min = tc.b
		}
		if got := sqn.Min(tc.a, tc.b); got != min {
			t.Errorf("Min(%#x, %#x) = %#x", tc.a, tc.b, got)
		}
	}
}

// Walking across the wrap, each number is greater than the one before.
func TestOrderAcrossTheWrap(t *testing.T) {
	prev := uint32(0xFFFFFF00)
	for i := 0; i < 0x200; i++ {
		s := prev + 1
		if !sqn.Greater(s, prev) || !sqn.Less(prev, s) || sqn.Diff(prev, s) != 1 {
			t.Fatalf("%#x after %#x", s, prev)
		}
		prev = s
	}
}

// The window size follows libzmq's compute_sqns: 80 packets at its default
// 100 kbit/s for 10 s, 8333 at tickcast's 100 Mbit/s for 1 s.
func TestWindow(t *testing.T) {
	for _, c := range []struct {
		rate     int64 // bytes per second
		recovery time.Duration
		maxTPDU  int
		want     int
	}{
		{12_500, 10 * time.Second, 1500, 80},
		{12_500_000, time.Second, 1500, 8333},
		{1000, time.Millisecond, 1500, 1},         // at least 1
		{1 << 40, time.Hour, 1500, sqn.MaxWindow}, // at most MaxWindow
		{12_500, time.Second, 0, 1},               // no TPDU size: 1, not a division by zero
	} {
		if got := sqn.Window(c.rate, c.recovery, c.maxTPDU); got != c.want {
			t.Errorf("Window(%d, %v, %d) = %d, want %d", c.rate, c.recovery, c.maxTPDU, got, c.want)
		}
	}
}
