package wire

import (
	"encoding/binary"
	"net/netip"
)

// Address family indicators of NLAs (RFC 1700 ADDRESS FAMILY NUMBERS, OpenPGM
// AFI_IP / AFI_IP6).
const (
	AFIIPv4 = 1
	AFIIPv6 = 2
)

// An NLA (network layer address, RFC 3208 §8) is encoded as AFI u16,
// reserved u16 = 0, then 4 or 16 address bytes (OpenPGM
// pgm_sockaddr_to_nla). It is a netip.Addr here: an IPv4 address encodes
// with AFI 1, anything else valid (IPv4-mapped IPv6 included) with AFI 2.
// Zones are not encoded.

// nlaLen returns the encoded length of a, or 0 if a cannot be encoded.
func nlaLen(a netip.Addr) int {
	switch {
	case a.Is4():
		return 8
	case a.Is6():
		return 20
	}
	return 0
}

func appendNLA(b []byte, a netip.Addr) ([]byte, error) {
	switch {
	case a.Is4():
		b = binary.BigEndian.AppendUint32(b, AFIIPv4<<16)
		v := a.As4()
		return append(b, v[:]...), nil
	case a.Is6():
		b = binary.BigEndian.AppendUint32(b, AFIIPv6<<16)
		v := a.As16()
		return append(b, v[:]...), nil
	}
	return b, errInvalidAddr
}

// parseNLA decodes the NLA at the start of b and returns it with its length.
// The reserved field is ignored, as OpenPGM does.
func parseNLA(b []byte) (netip.Addr, int, error) {
	if len(b) < 4 {
		return netip.Addr{}, 0, errShortBody
	}
	switch binary.BigEndian.Uint16(b) {
	case AFIIPv4:
		if len(b) < 8 {
			return netip.Addr{}, 0, errShortBody
		}
		return netip.AddrFrom4([4]byte(b[4:8])), 8, nil
	case AFIIPv6:
		if len(b) < 20 {
			return netip.Addr{}, 0, errShortBody
		}
		return netip.AddrFrom16([16]byte(b[4:20])), 20, nil
	}
	return netip.Addr{}, 0, errAFI
}
