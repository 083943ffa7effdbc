package source

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the Source returns wraps one of them; the
// wrapped ones are built once, so rejecting a packet allocates nothing.
var (
	// ErrBadConfig: New was given an unusable Config.
	ErrBadConfig = errors.New("pgm/source: bad config")
	// ErrClosed: the source has been closed.
	ErrClosed = errors.New("pgm/source: closed")
	// ErrRateLimited: Send was called before SendTime.
	ErrRateLimited = errors.New("pgm/source: rate limited")
	// ErrBadAPDU: an empty APDU, or one longer than MaxTSDU.
	ErrBadAPDU = errors.New("pgm/source: bad APDU size")
	// ErrIgnored: a packet the source does not act on. It is counted in
	// Stats; the caller need not do anything.
	ErrIgnored = errors.New("pgm/source: packet ignored")
)

var (
	errNotUpstream = fmt.Errorf("%w: not a NAK or SPMR", ErrIgnored)
	errNNAK        = fmt.Errorf("%w: N-NAK", ErrIgnored)
	errPort        = fmt.Errorf("%w: wrong ports", ErrIgnored)
	errTSI         = fmt.Errorf("%w: another source's TSI", ErrIgnored)
	errNLA         = fmt.Errorf("%w: NAK names another source NLA", ErrIgnored)
	errGroup       = fmt.Errorf("%w: NAK names another group", ErrIgnored)
	errNeverSent   = fmt.Errorf("%w: NAK only for sequence numbers never sent", ErrIgnored)
	errParse       = fmt.Errorf("%w: unparsable", ErrIgnored)
	errClosedPkt   = fmt.Errorf("%w: source closed", ErrIgnored)
)
