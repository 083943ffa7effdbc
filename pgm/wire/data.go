package wire

import "encoding/binary"

// Data is an ODATA or RDATA packet (RFC 3208 §8.2): one TPDU of the source's
// data stream. With libzmq each one carries a whole APDU and no options.
type Data struct {
	Type     Type // TypeODATA or TypeRDATA
	TSI      TSI
	DataPort uint16  // data-destination port (the header's dport)
	SQN      uint32  // data sequence number
	Trail    uint32  // trailing edge of the transmit window when sent
	Options  Options // OPT_FRAGMENT for multi-TPDU APDUs (never with libzmq)
	// Payload is the TSDU. After Parse it aliases the parsed packet: it is
	// valid only as long as that buffer is, and is not copied.
	Payload []byte
}

const dataFixedLen = 8 // SQN, trail

// Len returns the encoded length of p.
func (p *Data) Len() int {
	return HeaderLen + dataFixedLen + p.Options.Len() + len(p.Payload)
}

// Append appends p as a complete packet, checksum included.
func (p *Data) Append(b []byte) ([]byte, error) {
	if p.Type != TypeODATA && p.Type != TypeRDATA {
		return b, errWrongType
	}
	start := len(b)
	b, err := appendHeader(b, p.Type, p.TSI, p.DataPort, &p.Options, len(p.Payload))
	if err != nil {
		return b[:start], err
	}
	b = binary.BigEndian.AppendUint32(b, p.SQN)
	b = binary.BigEndian.AppendUint32(b, p.Trail)
	if b, err = p.Options.Append(b); err != nil {
		return b[:start], err
	}
	b = append(b, p.Payload...)
	return finish(b, start), nil
}

// Parse decodes the ODATA or RDATA packet pkt into p. The checksum is
// verified and must be present (OpenPGM drops ODATA/RDATA without one), and
// the payload length must equal the header's TSDU length. FEC parity packets
// are rejected with ErrUnsupported.
func (p *Data) Parse(pkt []byte) error {
	h, err := parseChecked(pkt)
	if err != nil {
		return err
	}
	if h.Type != TypeODATA && h.Type != TypeRDATA {
		return errWrongType
	}
	return p.parseBody(&h, pkt)
}

func (p *Data) parseBody(h *Header, pkt []byte) error {
	if h.Options&(HdrOptParity|HdrOptVarPktLen) != 0 {
		return errParity
	}
	body := pkt[HeaderLen:]
	if len(body) < dataFixedLen {
		return errShortBody
	}
	p.Type, p.TSI, p.DataPort = h.Type, h.TSI(), h.DataPort()
	p.SQN = binary.BigEndian.Uint32(body[0:])
	p.Trail = binary.BigEndian.Uint32(body[4:])
	n, err := parseTrailingOptions(h, body[dataFixedLen:], &p.Options)
	if err != nil {
		return err
	}
	payload := body[dataFixedLen+n:]
	if len(payload) != int(h.TSDULength) {
		return errTSDULength
	}
	p.Payload = payload
	return nil
}

// ToRDATA turns the encoded ODATA or RDATA packet pkt into an RDATA in place,
// as OpenPGM's send_rdata does with a stored ODATA: the type becomes RDATA,
// the trail field is set to trail, and the checksum is updated incrementally
// (RFC 1624) without reading the payload.
func ToRDATA(pkt []byte, trail uint32) error {
	if len(pkt) < HeaderLen+dataFixedLen {
		return errShortBody
	}
	if pkt[4]&versionMask != 0 {
		return ErrBadVersion
	}
	if t := Type(pkt[4]); t != TypeODATA && t != TypeRDATA {
		return errWrongType
	}
	cs := binary.BigEndian.Uint16(pkt[6:])
	update := func(off int, v uint16) {
		old := binary.BigEndian.Uint16(pkt[off:])
		binary.BigEndian.PutUint16(pkt[off:], v)
		cs = updateChecksum(cs, old, v)
	}
	update(4, uint16(TypeRDATA)<<8|uint16(pkt[5]))
	update(HeaderLen+4, uint16(trail>>16))
	update(HeaderLen+6, uint16(trail))
	if binary.BigEndian.Uint16(pkt[6:]) == 0 {
		cs = Checksum(pkt) // there was no checksum to update
	}
	binary.BigEndian.PutUint16(pkt[6:], cs)
	return nil
}
