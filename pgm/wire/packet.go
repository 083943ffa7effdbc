package wire

// Packet receives any parsed PGM packet. Only Header and the body field that
// matches Header.Type are meaningful after ParsePacket; the other fields keep
// whatever an earlier parse left there. One Packet is meant to be reused by a
// receive loop.
type Packet struct {
	Header Header
	SPM    SPM  // TypeSPM
	Data   Data // TypeODATA, TypeRDATA
	NAK    NAK  // TypeNAK, TypeNNAK, TypeNCF
	SPMR   SPMR // TypeSPMR
}

// ParsePacket decodes the PGM packet b (a UDP payload for EPGM, or what
// ParseIPv4 returns for raw PGM) into p without allocating.
//
// It checks, in order: length and version (ErrTruncated, ErrBadVersion), the
// type (ErrUnknownType), the checksum (ErrBadChecksum; 0 means none and is
// accepted except on ODATA/RDATA), then the body and options. POLL, POLR,
// ACK and FEC parity packets return ErrUnsupported with p.Header filled in.
// p.Data.Payload aliases b.
func ParsePacket(b []byte, p *Packet) error {
	h, err := parseChecked(b)
	p.Header = h
	if err != nil {
		return err
	}
	switch h.Type {
	case TypeSPM:
		return p.SPM.parseBody(&h, b)
	case TypeODATA, TypeRDATA:
		return p.Data.parseBody(&h, b)
	case TypeNAK, TypeNNAK, TypeNCF:
		return p.NAK.parseBody(&h, b)
	case TypeSPMR:
		return p.SPMR.parseBody(&h, b)
	case TypePOLL:
		return errPOLL
	case TypePOLR:
		return errPOLR
	}
	return errACK
}

// parseChecked decodes the header of pkt, requires a known type and verifies
// the checksum over the whole of pkt.
func parseChecked(pkt []byte) (Header, error) {
	h, err := ParseHeader(pkt)
	if err != nil {
		return h, err
	}
	if !h.Type.Known() {
		return h, ErrUnknownType
	}
	if h.Checksum == 0 {
		if h.Type == TypeODATA || h.Type == TypeRDATA {
			return h, errMissingChecksum
		}
	} else if Checksum(pkt) != h.Checksum {
		return h, errChecksum
	}
	return h, nil
}

// parseTrailingOptions decodes the options that start at b if the header
// announces them, and returns their length. Bytes after a body without
// options are left alone: OpenPGM ignores them too.
func parseTrailingOptions(h *Header, b []byte, o *Options) (int, error) {
	if h.Options&HdrOptPresent == 0 {
		*o = Options{}
		return 0, nil
	}
	return ParseOptions(b, o)
}
