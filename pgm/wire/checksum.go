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
	// The first 8 bytes are loaded as one little-endian word, in which the
	// checksum field (bytes 6 and 7) is the top 16 bits.
	var head uint64
	if len(pkt) >= 8 {
		head = binary.LittleEndian.Uint64(pkt)
		pkt = pkt[8:]
	} else {
		var t [8]byte
		copy(t[:], pkt)
		head = binary.LittleEndian.Uint64(t[:])
		pkt = nil
	}
	return checksumOf(fold(sum(pkt, head&0x0000FFFFFFFFFFFF)))
}

// checksumOf turns a folded ones'-complement sum into the value sent.
func checksumOf(s uint16) uint16 {
	if s == 0xFFFF {
		return 0xFFFF
	}
	return ^s
}

// sum adds b to the running ones'-complement sum acc. Words are loaded in
// little-endian order, 8 bytes at a time, with the carries chained through
// 64-bit adds (ADC). Any 16-bit word may be added in any 16-bit lane, since
// 2^16 = 1 modulo 0xFFFF, and the sum does not depend on byte order except
// for a final swap, done in fold (RFC 1071 §2). b must start at an even
// offset of the packet.
func sum(b []byte, acc uint64) uint64 {
	var c uint64
	for len(b) >= 64 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[32:]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[40:]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[48:]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[56:]), c)
		b = b[64:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b), c)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, c = bits.Add64(acc, uint64(binary.LittleEndian.Uint32(b)), c)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, c = bits.Add64(acc, uint64(binary.LittleEndian.Uint16(b)), c)
		b = b[2:]
	}
	if len(b) == 1 {
		// An odd last byte is the high byte of a word padded with zero,
		// which is the low byte of a little-endian word.
		acc, c = bits.Add64(acc, uint64(b[0]), c)
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
