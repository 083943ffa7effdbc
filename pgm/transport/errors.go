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
	// ErrPermission: raw PGM (pgm://) needs CAP_NET_RAW. An error wrapping
	// it wraps the system's too (syscall.EPERM or syscall.EACCES).
	ErrPermission = errors.New("pgm/transport: raw PGM sockets need CAP_NET_RAW (run as root, or use epgm://)")
	// ErrClosed: the socket has been closed.
	ErrClosed = errors.New("pgm/transport: closed")
	// ErrUnsupported: this platform has no PGM sockets (Linux only).
	ErrUnsupported = errors.New("pgm/transport: unsupported on this platform")
	// ErrSocket: a socket could not be set up. An error wrapping it wraps
	// the system's too (a syscall.Errno such as syscall.EADDRINUSE) when
	// the system refused.
	ErrSocket = errors.New("pgm/transport: socket setup failed")
)
