package wire

import (
	"encoding/binary"
	"net/netip"
)

// IPProtoPGM is PGM's IP protocol number (IANA; OpenPGM IPPROTO_PGM).
const IPProtoPGM = 113

// IPv4 option type of Router Alert (RFC 2113), which RFC 3208 §8 asks for on
// SPM, NCF, RDATA, POLL and NAK.
const ipOptRouterAlert = 148

// IPv4Header is what a raw-PGM receiver wants to know from the IPv4 header
// of a datagram.
type IPv4Header struct {
	Src, Dst    netip.Addr
	TTL         uint8
	RouterAlert bool // the datagram carries the IP Router Alert option
}

// ParseIPv4 validates the IPv4 header at the start of a datagram read from a
// raw IPPROTO_PGM socket (which, for IPv4, delivers the IP header) and
// returns it with the PGM packet it carries.
//
// The header may have options (IHL > 5), such as Router Alert. The datagram
// must be unfragmented and of protocol 113; bytes beyond the IP total length
// are dropped. As OpenPGM does, a total length that excludes the header (BSD
// raw sockets) is accepted. The IP header checksum is not verified: the
// kernel has already done so. Raw IPv6 sockets deliver no IP header, so
// there is nothing to strip there.
func ParseIPv4(b []byte) (IPv4Header, []byte, error) {
	if len(b) < 20 {
		return IPv4Header{}, nil, errIPShort
	}
	if b[0]>>4 != 4 {
		return IPv4Header{}, nil, errIPVersion
	}
	ihl := int(b[0]&0x0F) * 4
	if ihl < 20 || ihl > len(b) {
		return IPv4Header{}, nil, errIPShort
	}
	total := int(binary.BigEndian.Uint16(b[2:]))
	if len(b) == total+ihl {
		total += ihl // BSD raw sockets: ip_len counts only the payload
	}
	if total < ihl || total > len(b) {
		return IPv4Header{}, nil, errIPLength
	}
	if binary.BigEndian.Uint16(b[6:])&0x3FFF != 0 { // MF flag or fragment offset
		return IPv4Header{}, nil, errIPFragment
	}
	if b[9] != IPProtoPGM {
		return IPv4Header{}, nil, errIPProto
	}
	h := IPv4Header{
		Src: netip.AddrFrom4([4]byte(b[12:16])),
		Dst: netip.AddrFrom4([4]byte(b[16:20])),
		TTL: b[8],
	}
	ra, err := hasRouterAlert(b[20:ihl])
	if err != nil {
		return IPv4Header{}, nil, err
	}
	h.RouterAlert = ra
	return h, b[ihl:total], nil
}

// hasRouterAlert walks the IPv4 options (RFC 791): EOL ends them, NOP is one
// byte, everything else is type, length, value.
func hasRouterAlert(opts []byte) (bool, error) {
	found := false
	for len(opts) > 0 {
		switch opts[0] {
		case 0: // end of option list
			return found, nil
		case 1: // no-operation
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
			return false, errIPOptions
		}
		if opts[0] == ipOptRouterAlert {
			found = true
		}
		opts = opts[opts[1]:]
	}
	return found, nil
}
