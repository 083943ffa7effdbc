package wire

import (
	"encoding/binary"
	"net/netip"
)

// MaxNAKSQNs is the most sequence numbers one NAK or NCF can carry: one in
// the body and MaxNAKList in OPT_NAK_LIST.
const MaxNAKSQNs = 1 + MaxNAKList

// NAK is a NAK, N-NAK or NCF (RFC 3208 §8.3), which share one layout.
// Receivers send NAKs upstream, unicast to the source's path NLA; the source
// answers each with an NCF to the group that copies the NAK's NLAs and list.
type NAK struct {
	Type     Type // TypeNAK, TypeNNAK or TypeNCF
	TSI      TSI  // the source's TSI, also in the upstream NAK/N-NAK
	DataPort uint16
	SQN      uint32     // requested sequence number; the first one if Options.NAKList is set
	Source   netip.Addr // source NLA: the source's path NLA from its SPMs
	Group    netip.Addr // multicast group NLA
	Options  Options    // OPT_NAK_LIST with the other requested sequence numbers
}

// SetSQNs sets the requested sequence numbers: the first goes in the body,
// the others in OPT_NAK_LIST. It accepts 1 to MaxNAKSQNs numbers.
func (p *NAK) SetSQNs(sqns []uint32) error {
	if len(sqns) < 1 || len(sqns) > MaxNAKSQNs {
		return errNAKSQNs
	}
	p.SQN = sqns[0]
	p.Options.NAKList.Reset()
	for _, s := range sqns[1:] {
		_ = p.Options.NAKList.Add(s) // cannot fail: length checked above
	}
	return nil
}

// AppendSQNs appends all requested sequence numbers, body first, to dst.
func (p *NAK) AppendSQNs(dst []uint32) []uint32 {
	dst = append(dst, p.SQN)
	return append(dst, p.Options.NAKList.SQNs()...)
}

const nakFixedLen = 4 // SQN; the two NLAs follow

// Len returns the encoded length of p.
func (p *NAK) Len() int {
	return HeaderLen + nakFixedLen + nlaLen(p.Source) + nlaLen(p.Group) + p.Options.Len()
}

// Append appends p as a complete packet, checksum included. With a NAK list
// the header's options byte is 0x03, as OpenPGM sends it.
func (p *NAK) Append(b []byte) ([]byte, error) {
	if !isNAKType(p.Type) {
		return b, errWrongType
	}
	start := len(b)
	b, err := appendHeader(b, p.Type, p.TSI, p.DataPort, &p.Options, 0)
	if err != nil {
		return b[:start], err
	}
	b = binary.BigEndian.AppendUint32(b, p.SQN)
	if b, err = appendNLA(b, p.Source); err != nil {
		return b[:start], err
	}
	if b, err = appendNLA(b, p.Group); err != nil {
		return b[:start], err
	}
	if b, err = p.Options.Append(b); err != nil {
		return b[:start], err
	}
	return finish(b, start), nil
}

// Parse decodes the NAK, N-NAK or NCF packet pkt into p, verifying the
// checksum if there is one.
func (p *NAK) Parse(pkt []byte) error {
	h, err := parseChecked(pkt)
	if err != nil {
		return err
	}
	if !isNAKType(h.Type) {
		return errWrongType
	}
	return p.parseBody(&h, pkt)
}

func (p *NAK) parseBody(h *Header, pkt []byte) error {
	body := pkt[HeaderLen:]
	if len(body) < nakFixedLen {
		return errShortBody
	}
	p.Type, p.TSI, p.DataPort = h.Type, h.TSI(), h.DataPort()
	p.SQN = binary.BigEndian.Uint32(body)
	off := nakFixedLen
	var n int
	var err error
	if p.Source, n, err = parseNLA(body[off:]); err != nil {
		return err
	}
	off += n
	if p.Group, n, err = parseNLA(body[off:]); err != nil {
		return err
	}
	off += n
	_, err = parseTrailingOptions(h, body[off:], &p.Options)
	return err
}

func isNAKType(t Type) bool {
	return t == TypeNAK || t == TypeNNAK || t == TypeNCF
}
