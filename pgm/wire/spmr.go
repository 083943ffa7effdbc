package wire

// SPMR is an SPM request (RFC 3208 §13.6): a receiver that has data from a
// source but no SPM yet asks for one. It is a bare header, sent unicast to the
// source and multicast with TTL 1.
type SPMR struct {
	TSI      TSI // the source's TSI
	DataPort uint16
	Options  Options // none in practice
}

// Len returns the encoded length of p.
func (p *SPMR) Len() int {
	return HeaderLen + p.Options.Len()
}

// Append appends p as a complete packet, checksum included.
func (p *SPMR) Append(b []byte) ([]byte, error) {
	start := len(b)
	b, err := appendHeader(b, TypeSPMR, p.TSI, p.DataPort, &p.Options, 0)
	if err != nil {
		return b[:start], err
	}
	if b, err = p.Options.Append(b); err != nil {
		return b[:start], err
	}
	return finish(b, start), nil
}

// Parse decodes the SPMR packet pkt into p, verifying the checksum if there
// is one.
func (p *SPMR) Parse(pkt []byte) error {
	h, err := parseChecked(pkt)
	if err != nil {
		return err
	}
	if h.Type != TypeSPMR {
		return errWrongType
	}
	return p.parseBody(&h, pkt)
}

func (p *SPMR) parseBody(h *Header, pkt []byte) error {
	p.TSI, p.DataPort = h.TSI(), h.DataPort()
	_, err := parseTrailingOptions(h, pkt[HeaderLen:], &p.Options)
	return err
}
