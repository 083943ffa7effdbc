package transport

import (
	"errors"
	"fmt"

	"github.com/tickcast/tickcast/port"
)

// Sentinel errors. Errors of this package wrap one of them.
var (
	// ErrEndpoint: an endpoint string that is not a usable pgm:// or
	// epgm:// endpoint.
	ErrEndpoint = fmt.Errorf("pgm/transport: %w", port.ErrEndpoint)
	// ErrPermission: raw PGM (pgm://) needs CAP_NET_RAW.
	ErrPermission = errors.New("pgm/transport: raw PGM sockets need CAP_NET_RAW (run as root, or use epgm://)")
	// ErrClosed: the socket has been closed.
	ErrClosed = errors.New("pgm/transport: closed")
	// ErrUnsupported: this platform has no PGM sockets (Linux only).
	ErrUnsupported = errors.New("pgm/transport: unsupported on this platform")
	// ErrSocket: a socket could not be set up.
	ErrSocket = errors.New("pgm/transport: socket setup failed")
)
