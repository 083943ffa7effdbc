package zmtp

import (
	"fmt"
	"net"
	"strings"

	"github.com/tickcast/tickcast/port"
)

// ErrEndpoint is wrapped by every error about an endpoint's syntax.
var ErrEndpoint = fmt.Errorf("zmtp: %w", port.ErrEndpoint)

// parseEndpoint splits a ZeroMQ endpoint into a Go network and address.
// tcp://host:port (host "*" means every interface, port 0 or "*" an
// ephemeral one on bind) and ipc://path are supported.
func parseEndpoint(endpoint string, bind bool) (network, addr string, err error) {
	scheme, rest, ok := strings.Cut(endpoint, "://")
	if !ok || rest == "" {
		return "", "", fmt.Errorf("%w %q: want tcp://host:port or ipc://path", ErrEndpoint, endpoint)
	}
	switch scheme {
	case "tcp":
		host, port, err := net.SplitHostPort(rest)
		if err != nil {
			return "", "", fmt.Errorf("%w %q: %v", ErrEndpoint, endpoint, err)
		}
		if host == "*" {
			if !bind {
				return "", "", fmt.Errorf("%w %q: cannot connect to *", ErrEndpoint, endpoint)
			}
			host = ""
		}
		if port == "*" && bind {
			port = "0"
		}
		return "tcp", net.JoinHostPort(host, port), nil
	case "ipc":
		return "unix", rest, nil
	}
	return "", "", fmt.Errorf("%w %q: unsupported transport %q (tcp, ipc)", ErrEndpoint, endpoint, scheme)
}

// endpointOf renders a listener's address as an endpoint.
func endpointOf(a net.Addr) string {
	if a.Network() == "unix" {
		return "ipc://" + a.String()
	}
	return "tcp://" + a.String()
}
