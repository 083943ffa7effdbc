package receiver

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the Receiver returns wraps one of them; the
// wrapped ones are built once, so that dropping a packet allocates nothing.
var (
	// ErrBadConfig: New was given an unusable Config.
	ErrBadConfig = errors.New("pgm/receiver: bad config")
	// ErrDropped: a packet was dropped (and counted in Stats). The caller
	// need not do anything; the detail is for logs and tests.
	ErrDropped = errors.New("pgm/receiver: packet dropped")
)

var (
	errParse       = fmt.Errorf("%w: unparsable", ErrDropped)
	errPort        = fmt.Errorf("%w: wrong data-destination port", ErrDropped)
	errIgnored     = fmt.Errorf("%w: ignored TSI", ErrDropped)
	errMalformed   = fmt.Errorf("%w: malformed (TSDU length or trail)", ErrDropped)
	errPeers       = fmt.Errorf("%w: too many peers", ErrDropped)
	errUnknown     = fmt.Errorf("%w: NCF from an unknown or undefined peer", ErrDropped)
	errDuplicate   = fmt.Errorf("%w: duplicate", ErrDropped)
	errOld         = fmt.Errorf("%w: behind the window", ErrDropped)
	errOldSPM      = fmt.Errorf("%w: SPM sequence number went backwards", ErrDropped)
	errUpstream    = fmt.Errorf("%w: upstream packet (NAK, N-NAK) for a source", ErrDropped)
	errUnsupported = fmt.Errorf("%w: packet type not handled", ErrDropped)
	errImplausible = fmt.Errorf("%w: sequence number too far ahead of what the source can have sent", ErrDropped)
	errFinished    = fmt.Errorf("%w: from a session that ended (OPT_FIN)", ErrDropped)
)
