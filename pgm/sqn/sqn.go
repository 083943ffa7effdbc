// Package sqn compares PGM sequence numbers, which are 32-bit and wrap
// (RFC 3208 §3 uses serial-number arithmetic, RFC 1982).
//
// a is less than b when b is less than 2^31 steps ahead of a. This is what
// OpenPGM's pgm_uint32_lt & co. compute, and matching it matters more than
// RFC 1982's rule that two numbers exactly 2^31 apart are incomparable: here
// each of them is Less than the other, as in OpenPGM.
package sqn

import "time"

// Less reports whether a comes before b.
func Less(a, b uint32) bool { return int32(a-b) < 0 }

// LessEq reports whether a comes before b or equals it.
func LessEq(a, b uint32) bool { return int32(a-b) <= 0 }

// Greater reports whether a comes after b.
func Greater(a, b uint32) bool { return int32(b-a) < 0 }

// GreaterEq reports whether a comes after b or equals it.
func GreaterEq(a, b uint32) bool { return int32(b-a) <= 0 }

// Diff returns how many steps b is ahead of a (negative if behind), assuming
// they are less than 2^31 apart.
func Diff(a, b uint32) int32 { return int32(b - a) }

// Max returns whichever of a and b comes later.
func Max(a, b uint32) uint32 {
	if Less(a, b) {
		return b
	}
	return a
}

// Min returns whichever of a and b comes earlier.
func Min(a, b uint32) uint32 {
	if Less(b, a) {
		return b
	}
	return a
}

// MaxWindow bounds a transmit or receive window: 4M packets, 6 GB of
// 1500-byte TPDUs.
const MaxWindow = 1 << 22

// Window computes a window size in sequence numbers as libzmq's
// pgm_socket_t::compute_sqns does for both ends of a session: whole bytes
// per millisecond times the recovery interval in milliseconds, divided by
// the TPDU size, at least 1 and at most MaxWindow.
func Window(rate int64, recovery time.Duration, maxTPDU int) int {
	if maxTPDU <= 0 {
		return 1
	}
	n := rate / 1000 * recovery.Milliseconds() / int64(maxTPDU)
	switch {
	case n < 1:
		return 1
	case n > MaxWindow:
		return MaxWindow
	}
	return int(n)
}
