package transport

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParseEndpoint(t *testing.T) {
	ok := []struct {
		in      string
		network Network
		iface   string
		addr    string
		group   string
		port    uint16
	}{
		{"epgm://127.0.0.1;239.192.1.1:5555", EPGM, "lo", "127.0.0.1", "239.192.1.1", 5555},
		{"pgm://127.0.0.1;239.192.1.1:5555", PGM, "lo", "127.0.0.1", "239.192.1.1", 5555},
		{"epgm://lo;239.192.1.1:5555", EPGM, "lo", "127.0.0.1", "239.192.1.1", 5555},
		{"epgm://lo;224.0.0.250:1", EPGM, "lo", "127.0.0.1", "224.0.0.250", 1},
		{"epgm://lo;239.192.1.1:65535", EPGM, "lo", "127.0.0.1", "239.192.1.1", 65535},
		// OpenPGM's three fields, receive group = send group.
		{"epgm://lo;239.192.1.1;239.192.1.1:5555", EPGM, "lo", "127.0.0.1", "239.192.1.1", 5555},
	}
	for _, c := range ok {
		ep, err := ParseEndpoint(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if ep.Network != c.network || ep.Interface.Name != c.iface || ep.Addr != netip.MustParseAddr(c.addr) ||
			ep.Group != netip.MustParseAddr(c.group) || ep.Port != c.port {
			t.Errorf("%s: %+v", c.in, ep)
		}
		if ep.Interface.Index == 0 {
			t.Errorf("%s: no interface index", c.in)
		}
	}
	bad := []struct{ in, why string }{
		{"tcp://127.0.0.1:5555", "pgm://"},
		{"epgm:127.0.0.1;239.192.1.1:5555", "want"},
		{"epgm://127.0.0.1;239.192.1.1", "port"},
		{"epgm://127.0.0.1;239.192.1.1:", "port"},
		{"epgm://127.0.0.1;239.192.1.1:0", "port"},      // libzmq rejects port 0
		{"epgm://127.0.0.1;239.192.1.1:65536", "port"},  // atoi would wrap it
		{"epgm://127.0.0.1;239.192.1.1:55x", "port"},    // atoi would take 55
		{"epgm://127.0.0.1;239.192.1.1:-1", "port"},     //
		{"epgm://127.0.0.1:5555", "no multicast group"}, // OpenPGM would pick a default group
		{"epgm://;239.192.1.1:5555", "no interface"},    // libzmq would let the OS choose
		{"epgm://127.0.0.1;10.1.1.1:5555", "not a multicast"},
		{"epgm://127.0.0.1;ff02::1:5555", "not an IPv4"},
		{"epgm://127.0.0.1;group.example:5555", "not an IPv4"},
		{"epgm://127.0.0.1;239.192.1.1;239.192.1.2:5555", "different"},
		{"epgm://lo;239.192.1.1,239.192.1.2:5555", "lists"},
		{"epgm://lo,eth0;239.192.1.1:5555", "lists"},
		{"epgm://a;b;c;d:5555", "too many"},
		{"epgm://nosuchif0;239.192.1.1:5555", "nosuchif0"},
		{"epgm://192.0.2.77;239.192.1.1:5555", "no interface has"},
		{"epgm://::1;239.192.1.1:5555", "not IPv4"},
	}
	for _, c := range bad {
		_, err := ParseEndpoint(c.in)
		if !errors.Is(err, ErrEndpoint) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: %v, want ErrEndpoint saying %q", c.in, err, c.why)
		}
	}
}

func TestEndpointString(t *testing.T) {
	ep, err := ParseEndpoint("pgm://127.0.0.1;239.192.1.1:5555")
	if err != nil {
		t.Fatal(err)
	}
	if s := ep.String(); s != "pgm://lo;239.192.1.1:5555" {
		t.Fatal(s)
	}
	if EPGM.MaxAPDU() != 1428 || PGM.MaxAPDU() != 1436 {
		t.Fatal("MaxAPDU")
	}
}
