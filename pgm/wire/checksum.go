package wire

import (
	"encoding/binary"
	"math/bits"
)

// Checksum returns the checksum field for the PGM packet pkt (RFC 3208 §8):
// the ones' complement of the ones'-complement sum of the 16-bit words of the
// whole packet (header, body, options and payload; an odd last byte padded
// with zero; no pseudo-header), with the checksum field itself counted as
// zero whatever it holds. A result of 0 is returned as 0xFFFF, because 0 on
// the wire means "no checksum" (OpenPGM pgm_csum_fold).
func Checksum(pkt []byte) uint16 {
	var s uint64
	if len(pkt) >= 8 {
		s = sum(pkt[8:], sum(pkt[:6], 0))
	} else {
		s = sum(pkt[:min(len(pkt), 6)], 0)
	}
	return checksumOf(fold(s))
}

// checksumOf turns a folded ones'-complement sum into the value sent.
func checksumOf(s uint16) uint16 {
	if s == 0xFFFF {
		return 0xFFFF
	}
	return ^s
}

// sum adds b to the running ones'-complement sum acc. The words are loaded
// in little-endian order, 8 bytes at a time with the carries chained through
// 64-bit adds; the ones'-complement sum does not depend on byte order except
// for a final swap, done in fold (RFC 1071 §2). b must start at an even
// offset of the packet.
func sum(b []byte, acc uint64) uint64 {
	var c uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b), c)
		b = b[8:]
	}
	if len(b) > 0 {
		// Zero padding at the higher addresses is the RFC's padding of an
		// odd last byte.
		var t [8]byte
		copy(t[:], b)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(t[:]), c)
	}
	// End-around carry. If acc was all ones, adding the carry wraps it to 0
	// and produces a new carry, which the second add puts back.
	acc, c = bits.Add64(acc, 0, c)
	return acc + c
}

// fold reduces a 64-bit ones'-complement sum from sum to 16 bits, in network
// byte order.
func fold(s uint64) uint16 {
	s = s>>32 + s&0xFFFFFFFF
	s = s>>32 + s&0xFFFFFFFF
	s = s>>16 + s&0xFFFF
	s = s>>16 + s&0xFFFF
	return bits.ReverseBytes16(uint16(s))
}

// updateChecksum adjusts the checksum field cs of a packet in which one
// 16-bit word changed from old to new (RFC 1624, eqn. 3), without reading the
// rest of the packet.
func updateChecksum(cs, old, new uint16) uint16 {
	// Recover the folded sum. 0xFFFF stands for a sum of 0xFFFF: a sum of 0
	// would need an all-zero packet.
	s := uint32(0xFFFF)
	if cs != 0xFFFF {
		s = uint32(^cs)
	}
	s += uint32(^old) + uint32(new)
	s = s>>16 + s&0xFFFF
	s = s>>16 + s&0xFFFF
	return checksumOf(uint16(s))
}
