package wire

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them.
var (
	// ErrTruncated: the input ends before a field the packet declares.
	ErrTruncated = errors.New("pgm: truncated packet")
	// ErrBadVersion: the version bits (top two bits of the type byte) are not 0.
	ErrBadVersion = errors.New("pgm: unsupported PGM version")
	// ErrUnknownType: the type byte is not a PGM packet type, or not the type
	// the caller asked for.
	ErrUnknownType = errors.New("pgm: unknown packet type")
	// ErrUnsupported: a valid PGM packet this stack does not implement (POLL,
	// POLR, ACK, FEC parity packets).
	ErrUnsupported = errors.New("pgm: unsupported packet")
	// ErrBadChecksum: the checksum does not match, or ODATA/RDATA has none.
	ErrBadChecksum = errors.New("pgm: bad checksum")
	// ErrBadOption: a malformed option chain or option value.
	ErrBadOption = errors.New("pgm: bad option")
	// ErrBadLength: a length field disagrees with the packet, or a value is
	// too long to encode.
	ErrBadLength = errors.New("pgm: bad length")
	// ErrBadNLA: an NLA with an unknown address family, or an invalid address
	// to encode.
	ErrBadNLA = errors.New("pgm: bad NLA")
	// ErrBadIPHeader: a raw datagram whose IPv4 header is not a valid
	// unfragmented IPv4 header of a PGM packet.
	ErrBadIPHeader = errors.New("pgm: bad IPv4 header")
)

// The detailed errors are built once so that rejecting a packet, which a
// hostile sender can make us do at line rate, allocates nothing.
var (
	errShortHeader     = fmt.Errorf("%w: shorter than the 16-byte header", ErrTruncated)
	errShortBody       = fmt.Errorf("%w: shorter than the type-specific body", ErrTruncated)
	errShortOptions    = fmt.Errorf("%w: options run past the end of the packet", ErrTruncated)
	errMissingChecksum = fmt.Errorf("%w: ODATA/RDATA without checksum", ErrBadChecksum)
	errChecksum        = fmt.Errorf("%w: mismatch", ErrBadChecksum)
	errWrongType       = fmt.Errorf("%w: not the expected packet type", ErrUnknownType)
	errParity          = fmt.Errorf("%w: FEC parity packet", ErrUnsupported)
	errPOLL            = fmt.Errorf("%w: POLL", ErrUnsupported)
	errPOLR            = fmt.Errorf("%w: POLR", ErrUnsupported)
	errACK             = fmt.Errorf("%w: ACK (PGMCC)", ErrUnsupported)
	errTSDULength      = fmt.Errorf("%w: payload length differs from the header's TSDU length", ErrBadLength)
	errTooLong         = fmt.Errorf("%w: TSDU longer than 65535 bytes", ErrBadLength)
	errAFI             = fmt.Errorf("%w: unknown address family", ErrBadNLA)
	errInvalidAddr     = fmt.Errorf("%w: invalid address", ErrBadNLA)

	errOptFirst     = fmt.Errorf("%w: first option is not OPT_LENGTH with length 4", ErrBadOption)
	errOptTotal     = fmt.Errorf("%w: OPT_LENGTH total is too small", ErrBadOption)
	errOptShort     = fmt.Errorf("%w: option shorter than its 4-byte header", ErrBadOption)
	errOptOverrun   = fmt.Errorf("%w: option runs past the OPT_LENGTH total", ErrBadOption)
	errOptNoEnd     = fmt.Errorf("%w: option chain not terminated by OPT_END", ErrBadOption)
	errOptAfterEnd  = fmt.Errorf("%w: bytes after OPT_END within the OPT_LENGTH total", ErrBadOption)
	errOptLength2   = fmt.Errorf("%w: OPT_LENGTH repeated", ErrBadOption)
	errOptDuplicate = fmt.Errorf("%w: option repeated", ErrBadOption)
	errOptSize      = fmt.Errorf("%w: option has the wrong length for its type", ErrBadOption)
	errNAKListSize  = fmt.Errorf("%w: OPT_NAK_LIST must hold 1 to 62 sequence numbers", ErrBadOption)
	errNAKListFull  = fmt.Errorf("%w: OPT_NAK_LIST holds at most 62 sequence numbers", ErrBadOption)
	errNAKSQNs      = fmt.Errorf("%w: a NAK requests 1 to 63 sequence numbers", ErrBadOption)
	errRstCode      = fmt.Errorf("%w: OPT_RST error code exceeds 6 bits", ErrBadOption)

	errIPShort    = fmt.Errorf("%w: shorter than its header", ErrBadIPHeader)
	errIPVersion  = fmt.Errorf("%w: not IPv4", ErrBadIPHeader)
	errIPLength   = fmt.Errorf("%w: total length disagrees with the datagram", ErrBadIPHeader)
	errIPFragment = fmt.Errorf("%w: fragment", ErrBadIPHeader)
	errIPProto    = fmt.Errorf("%w: protocol is not PGM (113)", ErrBadIPHeader)
	errIPOptions  = fmt.Errorf("%w: malformed IP options", ErrBadIPHeader)
)
