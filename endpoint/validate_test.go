package endpoint

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/tickcast/tickcast/pgm/transport"
	"github.com/tickcast/tickcast/zmtp"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		endpoint   string
		sink, src  bool   // valid to bind, to connect
		why        string // in the error, when one is invalid
		transportE error  // the transport's sentinel the error wraps too
	}{
		{"tcp://127.0.0.1:6001", true, true, "", nil},
		{"tcp://localhost:6001", true, true, "", nil},
		{"tcp://[::1]:6001", true, true, "", nil},
		{"tcp://127.0.0.1:65535", true, true, "", nil},
		{"tcp://127.0.0.1:0", true, false, "from 1 to 65535", zmtp.ErrEndpoint},
		{"tcp://127.0.0.1:*", true, false, "from 1 to 65535", zmtp.ErrEndpoint},
		{"tcp://*:6001", true, false, "no host", zmtp.ErrEndpoint},
		{"tcp://:6001", true, false, "no host", zmtp.ErrEndpoint},
		{"tcp://127.0.0.1", false, false, "no port", zmtp.ErrEndpoint},
		{"tcp://", false, false, "no port", zmtp.ErrEndpoint},
		{"tcp://127.0.0.1:99999", false, false, `port "99999"`, zmtp.ErrEndpoint},
		{"tcp://:99999", false, false, `port "99999"`, zmtp.ErrEndpoint},
		{"tcp://127.0.0.1:-1", false, false, `port "-1"`, zmtp.ErrEndpoint},
		{"tcp://127.0.0.1:http", false, false, `port "http"`, zmtp.ErrEndpoint},
		{"tcp://127.0.0.1:", false, false, `port ""`, zmtp.ErrEndpoint},
		{"tcp://::1:6001", false, false, "brackets", zmtp.ErrEndpoint},
		{"tcp://a b:6001", false, false, "neither an IP address nor a host name", zmtp.ErrEndpoint},
		{"tcp://-x:6001", false, false, "neither an IP address nor a host name", zmtp.ErrEndpoint},
		{"ipc:///tmp/feed.sock", true, true, "", nil},
		{"ipc://", false, false, "no path", zmtp.ErrEndpoint},
		{"foo://x", false, false, `unsupported transport "foo"`, zmtp.ErrEndpoint},
		{"udp://127.0.0.1:6001", false, false, `unsupported transport "udp"`, zmtp.ErrEndpoint},
		{"127.0.0.1:6001", false, false, "not an endpoint", zmtp.ErrEndpoint},
		{"", false, false, "not an endpoint", zmtp.ErrEndpoint},
		{"epgm://127.0.0.1;239.192.1.1:5555", true, true, "", nil},
		{"pgm://lo;239.192.1.1:5555", true, true, "", nil},
		{"epgm://nosuchif0;239.192.1.1:5555", false, false, `interface "nosuchif0"`, transport.ErrEndpoint},
		{"epgm://127.0.0.1;10.0.0.1:5555", false, false, "not a multicast address", transport.ErrEndpoint},
		{"epgm://127.0.0.1;239.192.1.1:0", false, false, "from 1 to 65535", transport.ErrEndpoint},
		{"pgm://127.0.0.1;239.192.1.1", false, false, "no port", transport.ErrEndpoint},
	}
	for _, tt := range tests {
		for _, c := range []struct {
			name  string
			f     func(string) error
			valid bool
		}{{"ValidateSink", ValidateSink, tt.sink}, {"ValidateSource", ValidateSource, tt.src}} {
			err := c.f(tt.endpoint)
			if c.valid {
				if err != nil {
					t.Errorf("%s(%q): %v, want nil", c.name, tt.endpoint, err)
				}
				continue
			}
			switch {
			case err == nil:
				t.Errorf("%s(%q) = nil, want an error saying %q", c.name, tt.endpoint, tt.why)
			case !errors.Is(err, ErrEndpoint) || !errors.Is(err, tt.transportE):
				t.Errorf("%s(%q): %v, want it to wrap ErrEndpoint and %v", c.name, tt.endpoint, err, tt.transportE)
			case !strings.Contains(err.Error(), tt.why) || !strings.Contains(err.Error(), tt.endpoint) ||
				strings.Contains(err.Error(), "\n") || strings.Count(err.Error(), "bad endpoint") != 1:
				t.Errorf("%s(%q): %q, want one line naming the endpoint once and saying %q", c.name, tt.endpoint, err, tt.why)
			}
		}
	}
}

// TestOpenErrors checks that Sink and Source refuse what the validators
// refuse, with the same errors, and that an error opening a valid endpoint
// is not taken for a bad endpoint.
func TestOpenErrors(t *testing.T) {
	for _, ep := range []string{"foo://x", "tcp://127.0.0.1", "tcp://:99999", "epgm://nosuchif0;239.192.1.1:5555"} {
		if s, err := Sink(ep); !errors.Is(err, ErrEndpoint) || s != nil {
			t.Errorf("Sink(%q) = %v, %v; want nil and an error wrapping ErrEndpoint", ep, s, err)
		}
		if s, err := Source(ep); !errors.Is(err, ErrEndpoint) || s != nil {
			t.Errorf("Source(%q) = %v, %v; want nil and an error wrapping ErrEndpoint", ep, s, err)
		}
	}
	if _, err := Source("tcp://127.0.0.1:99999"); !errors.Is(err, ErrEndpoint) || !errors.Is(err, zmtp.ErrEndpoint) {
		t.Errorf("Source of port 99999: %v, want a bad endpoint", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ep := "tcp://" + ln.Addr().String()
	s, err := Sink(ep)
	var opErr *net.OpError
	switch {
	case err == nil:
		s.Close()
		t.Fatalf("Sink(%q) bound an address in use", ep)
	case errors.Is(err, ErrEndpoint):
		t.Errorf("Sink(%q): %v: an address in use is not a bad endpoint", ep, err)
	case !errors.As(err, &opErr):
		t.Errorf("Sink(%q): %v: want the system's error wrapped", ep, err)
	}
	if s != nil {
		t.Errorf("Sink(%q) returned a non-nil sink with its error: %#v", ep, s)
	}

	for _, kbps := range []int64{0, -5, MaxPGMRate + 1, 10_000_000_000_000_000} {
		if s, err := Sink("epgm://127.0.0.1;239.192.1.1:5555", WithRate(kbps)); err == nil || errors.Is(err, ErrEndpoint) {
			if s != nil {
				s.Close()
			}
			t.Errorf("Sink with a rate of %d kbit/s: %v, want a rate error", kbps, err)
		}
		if s, err := Source("epgm://127.0.0.1;239.192.1.1:5555", WithRate(kbps)); err == nil || errors.Is(err, ErrEndpoint) {
			if s != nil {
				s.Close()
			}
			t.Errorf("Source with a rate of %d kbit/s: %v, want a rate error", kbps, err)
		}
	}
}
