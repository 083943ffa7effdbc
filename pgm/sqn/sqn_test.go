package sqn_test

import (
	"testing"

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
