package wire

import (
	"encoding/binary"
	"net/netip"
)

// SPM is a source path message (RFC 3208 §8.1): the source's heartbeat,
// advertising its transmit window and the address receivers send NAKs to.
type SPM struct {
	TSI      TSI
	DataPort uint16     // data-destination port (the header's dport)
	SQN      uint32     // SPM sequence number, a counter of its own starting at 0
	Trail    uint32     // trailing edge of the transmit window
	Lead     uint32     // leading edge; an empty window is trail 0, lead 0xFFFFFFFF
	NLA      netip.Addr // path NLA: the source's unicast address, where NAKs go
	Options  Options    // OPT_FIN on close; OPT_PARITY_PRM with FEC
}

const spmFixedLen = 12 // SQN, trail, lead; the NLA follows

// Len returns the encoded length of p.
func (p *SPM) Len() int {
	return HeaderLen + spmFixedLen + nlaLen(p.NLA) + p.Options.Len()
}

// Append appends p as a complete packet, checksum included.
func (p *SPM) Append(b []byte) ([]byte, error) {
	start := len(b)
	b, err := appendHeader(b, TypeSPM, p.TSI, p.DataPort, &p.Options, 0)
	if err != nil {
		return b[:start], err
	}
	b = binary.BigEndian.AppendUint32(b, p.SQN)
	b = binary.BigEndian.AppendUint32(b, p.Trail)
	b = binary.BigEndian.AppendUint32(b, p.Lead)
	if b, err = appendNLA(b, p.NLA); err != nil {
		return b[:start], err
	}
	if b, err = p.Options.Append(b); err != nil {
		return b[:start], err
	}
	return finish(b, start), nil
}

// Parse decodes the SPM packet pkt into p, verifying its checksum. A missing
// checksum (0) is accepted, as OpenPGM does for SPMs.
func (p *SPM) Parse(pkt []byte) error {
	h, err := parseChecked(pkt)
	if err != nil {
		return err
	}
	if h.Type != TypeSPM {
		return errWrongType
	}
	return p.parseBody(&h, pkt)
}

func (p *SPM) parseBody(h *Header, pkt []byte) error {
	body := pkt[HeaderLen:]
	if len(body) < spmFixedLen {
		return errShortBody
	}
	p.TSI, p.DataPort = h.TSI(), h.DataPort()
	p.SQN = binary.BigEndian.Uint32(body[0:])
	p.Trail = binary.BigEndian.Uint32(body[4:])
	p.Lead = binary.BigEndian.Uint32(body[8:])
	var n int
	var err error
	if p.NLA, n, err = parseNLA(body[spmFixedLen:]); err != nil {
		return err
	}
	_, err = parseTrailingOptions(h, body[spmFixedLen+n:], &p.Options)
	return err
}
