package wire

import "encoding/binary"

// OptionType is the type of a PGM option extension (RFC 3208 §9, OpenPGM
// packet.h PGM_OPT_*).
type OptionType uint8

// Option types. The ones this package decodes into [Options] are LENGTH,
// FRAGMENT, NAK_LIST, JOIN, PARITY_PRM, PARITY_GRP, CURR_TGSIZE, SYN, FIN and
// RST; any other option is checked for a sane length and skipped.
const (
	OptLength        OptionType = 0x00 // OPT_LENGTH (§9.1): total length of all options; always first
	OptFragment      OptionType = 0x01 // OPT_FRAGMENT (§9.2): APDU fragmentation
	OptNAKList       OptionType = 0x02 // OPT_NAK_LIST (§9.3.5): more requested sequence numbers
	OptJoin          OptionType = 0x03 // OPT_JOIN (§9.4.2): late join minimum sequence number
	OptNAKBOIvl      OptionType = 0x04 // OPT_NAK_BO_IVL (§15.4.1)
	OptNAKBORng      OptionType = 0x05 // OPT_NAK_BO_RNG (§15.4.2)
	OptRedirect      OptionType = 0x07 // OPT_REDIRECT (§9.5.5): DLR redirection
	OptParityPrm     OptionType = 0x08 // OPT_PARITY_PRM (§11.8.1): FEC parameters
	OptParityGrp     OptionType = 0x09 // OPT_PARITY_GRP (§11.8.2): FEC group number
	OptCurrTGSize    OptionType = 0x0A // OPT_CURR_TGSIZE (§11.8.3): FEC current group size
	OptNbrUnreach    OptionType = 0x0B // OPT_NBR_UNREACH (§15.4.3)
	OptPathNLA       OptionType = 0x0C // OPT_PATH_NLA (§15.4.4)
	OptSyn           OptionType = 0x0D // OPT_SYN (§9.6.2): first data of the session
	OptFin           OptionType = 0x0E // OPT_FIN (§9.7.4): session end
	OptRst           OptionType = 0x0F // OPT_RST (§9.8.4): session reset
	OptCR            OptionType = 0x10 // OPT_CR (§12.7.1): congestion report
	OptCRQST         OptionType = 0x11 // OPT_CRQST (§12.7.2): congestion report request
	OptPGMCCData     OptionType = 0x12 // OPT_PGMCC_DATA (PGMCC)
	OptPGMCCFeedback OptionType = 0x13 // OPT_PGMCC_FEEDBACK (PGMCC)
)

// Bits of an option's type byte (RFC 3208 §9).
const (
	OptEnd  = 0x80 // PGM_OPT_END: set on the last option
	OptMask = 0x7F // PGM_OPT_MASK: the option type
)

// Fixed option sizes, including the 4-byte option header.
const (
	optHeaderLen   = 4
	optFragmentLen = 16 // RFC §9.2's text says 12; its diagram and OpenPGM say 16
	optU32Len      = 8  // JOIN, PARITY_PRM, PARITY_GRP, CURR_TGSIZE
)

// MaxNAKList is the most sequence numbers OPT_NAK_LIST carries (RFC 3208
// §9.3.5), on top of the one in the NAK body.
const MaxNAKList = 62

// Fragment is OPT_FRAGMENT: this TPDU is part of an APDU larger than one
// TPDU. libzmq never sends it and a libzmq receiver aborts on a multi-TPDU
// APDU; a receiver recognises it so that it can drop such APDUs.
type Fragment struct {
	FirstSQN uint32 // sequence number of the APDU's first fragment
	Offset   uint32 // offset of this fragment's payload in the APDU
	Length   uint32 // length of the whole APDU
}

// ParityPrm is OPT_PARITY_PRM, sent by FEC-capable sources in SPMs.
type ParityPrm struct {
	Proactive bool   // PGM_PARITY_PRM_PRO: proactive parity packets are sent
	OnDemand  bool   // PGM_PARITY_PRM_OND: on-demand parity is available
	TGSize    uint32 // transmission group size
}

// Rst is OPT_RST: the source reset the session.
type Rst struct {
	N    bool  // the N bit
	Code uint8 // 6-bit error code
}

// NAKList is the payload of OPT_NAK_LIST: up to MaxNAKList sequence numbers.
// The zero value is an empty list, which encodes as no option.
type NAKList struct {
	n    uint8
	sqns [MaxNAKList]uint32
}

// Len returns the number of sequence numbers in the list.
func (l *NAKList) Len() int { return int(l.n) }

// SQNs returns the sequence numbers. The slice aliases l.
func (l *NAKList) SQNs() []uint32 { return l.sqns[:l.n] }

// Add appends sqn, refusing a 63rd entry.
func (l *NAKList) Add(sqn uint32) error {
	if l.n == MaxNAKList {
		return errNAKListFull
	}
	l.sqns[l.n] = sqn
	l.n++
	return nil
}

// Reset empties the list.
func (l *NAKList) Reset() {
	clear(l.sqns[:l.n])
	l.n = 0
}

// Options are the option extensions of a packet. The zero value means no
// options; a packet with no options is sent without OPT_PRESENT.
//
// Parsing checks the whole chain (RFC 3208 §9): OPT_LENGTH first with the
// total length, every option at least 4 bytes and inside that total, OPT_END
// on the last one exactly at the total, no repeats. Known options must have
// their fixed size. Options this package does not model are skipped, so they
// do not survive a parse and re-encode. Options are encoded in type order.
// The U bit and the other bits of an option's fourth byte are sent as 0 and
// ignored, except where the option defines them (OPT_RST, OPT_PARITY_PRM).
type Options struct {
	HasFragment   bool
	Fragment      Fragment
	NAKList       NAKList // present when not empty
	HasJoin       bool
	Join          uint32 // OPT_JOIN minimum sequence number
	HasParityPrm  bool
	ParityPrm     ParityPrm
	HasParityGrp  bool
	ParityGrp     uint32 // OPT_PARITY_GRP group number
	HasCurrTGSize bool
	CurrTGSize    uint32 // OPT_CURR_TGSIZE actual transmission group size
	Syn           bool   // OPT_SYN
	Fin           bool   // OPT_FIN; OpenPGM sends it in the SPMs of a closing source
	HasRst        bool
	Rst           Rst

	// Reserved holds the third byte of each option, indexed by option type:
	// 5 reserved bits, F (0x08, FEC-encoded) and OPX (0x03, what a network
	// element does with an unknown option). This package neither sets nor
	// interprets it; it is kept so that packets re-encode to the same bytes.
	// OpenPGM leaves it uninitialised in OPT_NAK_LIST (seen on the wire:
	// 0x2c, 0xd1, 0xa1), so its OPX bits are garbage and must be ignored.
	Reserved [numDecoded]uint8
}

// numDecoded bounds the types of the options Options decodes.
const numDecoded = int(OptRst) + 1

// IsZero reports whether o holds no option.
func (o *Options) IsZero() bool {
	return !o.HasFragment && o.NAKList.n == 0 && !o.HasJoin && !o.HasParityPrm &&
		!o.HasParityGrp && !o.HasCurrTGSize && !o.Syn && !o.Fin && !o.HasRst
}

// headerFlags returns the option bits of the common header for o.
func (o *Options) headerFlags() uint8 {
	if o.IsZero() {
		return 0
	}
	if o.NAKList.n > 0 || o.HasParityPrm {
		return HdrOptPresent | HdrOptNetwork // as OpenPGM: 0x03 with a NAK list
	}
	return HdrOptPresent
}

// Len returns the encoded length of o, OPT_LENGTH included; 0 for no options.
func (o *Options) Len() int {
	if o.IsZero() {
		return 0
	}
	n := optHeaderLen // OPT_LENGTH
	if o.HasFragment {
		n += optFragmentLen
	}
	if o.NAKList.n > 0 {
		n += optHeaderLen + 4*int(o.NAKList.n)
	}
	for _, has := range [...]bool{o.HasJoin, o.HasParityPrm, o.HasParityGrp, o.HasCurrTGSize} {
		if has {
			n += optU32Len
		}
	}
	for _, has := range [...]bool{o.Syn, o.Fin, o.HasRst} {
		if has {
			n += optHeaderLen
		}
	}
	return n
}

// Append appends the encoded options, OPT_LENGTH first and OPT_END on the
// last option, or nothing if o is empty.
func (o *Options) Append(b []byte) ([]byte, error) {
	if o.IsZero() {
		return b, nil
	}
	if o.HasRst && o.Rst.Code > 0x3F {
		return b, errRstCode
	}
	b = append(b, byte(OptLength), optHeaderLen)
	b = binary.BigEndian.AppendUint16(b, uint16(o.Len()))
	last := 0 // offset of the last option's type byte, for OPT_END
	if o.HasFragment {
		last = len(b)
		b = append(b, byte(OptFragment), optFragmentLen, o.Reserved[OptFragment], 0)
		b = binary.BigEndian.AppendUint32(b, o.Fragment.FirstSQN)
		b = binary.BigEndian.AppendUint32(b, o.Fragment.Offset)
		b = binary.BigEndian.AppendUint32(b, o.Fragment.Length)
	}
	if o.NAKList.n > 0 {
		last = len(b)
		b = append(b, byte(OptNAKList), byte(optHeaderLen+4*int(o.NAKList.n)), o.Reserved[OptNAKList], 0)
		for _, s := range o.NAKList.SQNs() {
			b = binary.BigEndian.AppendUint32(b, s)
		}
	}
	appendU32 := func(t OptionType, bits uint8, v uint32) {
		last = len(b)
		b = append(b, byte(t), optU32Len, o.Reserved[t], bits)
		b = binary.BigEndian.AppendUint32(b, v)
	}
	if o.HasJoin {
		appendU32(OptJoin, 0, o.Join)
	}
	if o.HasParityPrm {
		var bits uint8
		if o.ParityPrm.Proactive {
			bits |= 0x01
		}
		if o.ParityPrm.OnDemand {
			bits |= 0x02
		}
		appendU32(OptParityPrm, bits, o.ParityPrm.TGSize)
	}
	if o.HasParityGrp {
		appendU32(OptParityGrp, 0, o.ParityGrp)
	}
	if o.HasCurrTGSize {
		appendU32(OptCurrTGSize, 0, o.CurrTGSize)
	}
	appendFlag := func(t OptionType, bits uint8) {
		last = len(b)
		b = append(b, byte(t), optHeaderLen, o.Reserved[t], bits)
	}
	if o.Syn {
		appendFlag(OptSyn, 0)
	}
	if o.Fin {
		appendFlag(OptFin, 0)
	}
	if o.HasRst {
		bits := o.Rst.Code
		if o.Rst.N {
			bits |= 0x40
		}
		appendFlag(OptRst, bits)
	}
	b[last] |= OptEnd
	return b, nil
}

// ParseOptions decodes the option chain at the start of b, which must begin
// with OPT_LENGTH, into o and returns its total length. o is overwritten even
// on error.
func ParseOptions(b []byte, o *Options) (int, error) {
	*o = Options{}
	if len(b) < optHeaderLen {
		return 0, errShortOptions
	}
	if b[0] != byte(OptLength) || b[1] != optHeaderLen {
		return 0, errOptFirst
	}
	total := int(binary.BigEndian.Uint16(b[2:]))
	if total < 2*optHeaderLen {
		return 0, errOptTotal
	}
	if total > len(b) {
		return 0, errShortOptions
	}
	for p := optHeaderLen; p < total; {
		if total-p < optHeaderLen {
			return 0, errOptOverrun
		}
		l := int(b[p+1])
		if l < optHeaderLen {
			return 0, errOptShort
		}
		if l > total-p {
			return 0, errOptOverrun
		}
		if err := o.parseOne(b[p : p+l]); err != nil {
			return 0, err
		}
		p += l
		if b[p-l]&OptEnd != 0 {
			if p != total {
				return 0, errOptAfterEnd
			}
			return total, nil
		}
	}
	return 0, errOptNoEnd
}

// parseOne decodes one option; opt is its full encoding, header included.
func (o *Options) parseOne(opt []byte) error {
	t, l := OptionType(opt[0]&OptMask), len(opt)
	u32 := func(dup bool, dst *uint32) error {
		if dup {
			return errOptDuplicate
		}
		if l != optU32Len {
			return errOptSize
		}
		*dst = binary.BigEndian.Uint32(opt[4:])
		return nil
	}
	flag := func(dup bool) error {
		if dup {
			return errOptDuplicate
		}
		if l != optHeaderLen {
			return errOptSize
		}
		return nil
	}
	var err error
	switch t {
	case OptLength:
		return errOptLength2
	case OptFragment:
		if o.HasFragment {
			return errOptDuplicate
		}
		if l != optFragmentLen {
			return errOptSize
		}
		o.HasFragment = true
		o.Fragment = Fragment{
			FirstSQN: binary.BigEndian.Uint32(opt[4:]),
			Offset:   binary.BigEndian.Uint32(opt[8:]),
			Length:   binary.BigEndian.Uint32(opt[12:]),
		}
	case OptNAKList:
		if o.NAKList.n > 0 {
			return errOptDuplicate
		}
		n := (l - optHeaderLen) / 4
		if (l-optHeaderLen)%4 != 0 || n < 1 || n > MaxNAKList {
			return errNAKListSize
		}
		for i := range n {
			o.NAKList.sqns[i] = binary.BigEndian.Uint32(opt[optHeaderLen+4*i:])
		}
		o.NAKList.n = uint8(n)
	case OptJoin:
		err = u32(o.HasJoin, &o.Join)
		o.HasJoin = true
	case OptParityPrm:
		err = u32(o.HasParityPrm, &o.ParityPrm.TGSize)
		o.HasParityPrm = true
		o.ParityPrm.Proactive = opt[3]&0x01 != 0
		o.ParityPrm.OnDemand = opt[3]&0x02 != 0
	case OptParityGrp:
		err = u32(o.HasParityGrp, &o.ParityGrp)
		o.HasParityGrp = true
	case OptCurrTGSize:
		err = u32(o.HasCurrTGSize, &o.CurrTGSize)
		o.HasCurrTGSize = true
	case OptSyn:
		err = flag(o.Syn)
		o.Syn = true
	case OptFin:
		err = flag(o.Fin)
		o.Fin = true
	case OptRst:
		err = flag(o.HasRst)
		o.HasRst = true
		o.Rst = Rst{N: opt[3]&0x40 != 0, Code: opt[3] & 0x3F}
	default:
		return nil // not modelled: skipped, reserved byte included
	}
	o.Reserved[t] = opt[2]
	return err
}
