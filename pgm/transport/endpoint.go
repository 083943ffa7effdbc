package transport

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/tickcast/tickcast/pgm/apdu"
)

// Network is the way PGM is carried.
type Network uint8

const (
	// EPGM is PGM directly inside UDP datagrams (OpenPGM's UDP
	// encapsulation, libzmq's epgm://): every packet goes to the endpoint's
	// port, so no privilege is needed.
	EPGM Network = iota + 1
	// PGM is PGM as RFC 3208 defines it: IP protocol 113 on raw sockets
	// (libzmq's pgm://). It needs CAP_NET_RAW.
	PGM
)

func (n Network) String() string {
	switch n {
	case EPGM:
		return "epgm"
	case PGM:
		return "pgm"
	}
	return fmt.Sprintf("network(%d)", uint8(n))
}

// MaxAPDU returns the largest APDU sent on the network, offset included:
// libzmq's PGM_MSS, so that a libzmq receiver never sees a fragmented APDU.
func (n Network) MaxAPDU() int {
	if n == PGM {
		return apdu.MaxAPDUPGM
	}
	return apdu.MaxAPDUEPGM
}

// Endpoint is a parsed pgm:// or epgm:// endpoint: where a session's
// multicast goes and on which interface.
type Endpoint struct {
	Network Network
	// Interface is the interface multicast is sent and joined on, never
	// left to the OS: a feed must not leak onto whatever interface the
	// routing table prefers.
	Interface net.Interface
	// Addr is the interface's IPv4 address: what a source advertises as
	// its NLA (where NAKs go) and binds its unicast socket to.
	Addr netip.Addr
	// Group is the IPv4 multicast group, for sending and receiving.
	Group netip.Addr
	// Port is the endpoint's port: the PGM data-destination port, and for
	// EPGM also the UDP port of every packet, multicast and unicast.
	Port uint16
}

// String formats the endpoint as libzmq would name it.
func (e Endpoint) String() string {
	return fmt.Sprintf("%s://%s;%s:%d", e.Network, e.Interface.Name, e.Group, e.Port)
}

// ParseEndpoint parses epgm://IFACE;GROUP:PORT and pgm://IFACE;GROUP:PORT as
// libzmq 4.3 does (pgm_socket_t::init_address with OpenPGM's
// pgm_getaddrinfo): the port is the number after the last colon; before it
// come the interface and the group, separated by a semicolon. The interface
// is a name ("lo", "eth0") or one of its IPv4 addresses. OpenPGM's
// three-field form IFACE;RECEIVE-GROUP;SEND-GROUP is accepted when both
// groups are the same.
//
// It is stricter than libzmq where libzmq would let the OS choose or would
// do something a feed does not want: the interface must be named (libzmq
// takes the default one for an empty field), the group must be a literal
// IPv4 multicast address (no host names, no IPv6, no lists of several
// groups or interfaces), and the port must be a decimal number from 1 to
// 65535 (libzmq uses atoi). Errors wrap ErrEndpoint.
func ParseEndpoint(endpoint string) (Endpoint, error) {
	bad := func(format string, args ...any) (Endpoint, error) {
		return Endpoint{}, fmt.Errorf("%w %q: %s", ErrEndpoint, endpoint, fmt.Sprintf(format, args...))
	}
	scheme, rest, ok := strings.Cut(endpoint, "://")
	var e Endpoint
	switch {
	case !ok:
		return bad("want epgm://iface;group:port or pgm://iface;group:port")
	case scheme == "epgm":
		e.Network = EPGM
	case scheme == "pgm":
		e.Network = PGM
	default:
		return bad("not a pgm:// or epgm:// endpoint")
	}
	colon := strings.LastIndexByte(rest, ':')
	if colon < 0 {
		return bad("no port (want iface;group:port)")
	}
	port, err := strconv.ParseUint(rest[colon+1:], 10, 16)
	if err != nil || port == 0 {
		return bad("port %q is not a number from 1 to 65535", rest[colon+1:])
	}
	e.Port = uint16(port)
	fields := strings.Split(rest[:colon], ";")
	switch {
	case len(fields) == 3 && fields[1] != fields[2]:
		return bad("different receive and send groups are not supported")
	case len(fields) == 1:
		return bad("no multicast group (want iface;group:port)")
	case len(fields) > 3:
		return bad("too many ';'-separated fields")
	}
	iface, group := fields[0], fields[1]
	if strings.Contains(iface, ",") || strings.Contains(group, ",") {
		return bad("lists of interfaces or groups are not supported")
	}
	if e.Group, err = netip.ParseAddr(group); err != nil || !e.Group.Is4() {
		return bad("group %q is not an IPv4 address", group)
	}
	if !e.Group.IsMulticast() {
		return bad("group %s is not a multicast address", e.Group)
	}
	if iface == "" {
		return bad("no interface: name it (e.g. lo or 127.0.0.1) rather than let the OS choose where multicast goes")
	}
	if e.Interface, e.Addr, err = lookupInterface(iface); err != nil {
		// Wrapped, not formatted: the net package's error stays in the
		// chain for errors.As.
		return Endpoint{}, fmt.Errorf("%w %q: %w", ErrEndpoint, endpoint, err)
	}
	return e, nil
}

// lookupInterface finds an interface by name or by one of its IPv4
// addresses, and the IPv4 address to use on it: the one given, or the
// interface's first (OpenPGM's pgm_if_indextoaddr).
func lookupInterface(s string) (net.Interface, netip.Addr, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if !a.Is4() {
			return net.Interface{}, netip.Addr{}, fmt.Errorf("interface address %s is not IPv4", a)
		}
		ifs, err := net.Interfaces()
		if err != nil {
			return net.Interface{}, netip.Addr{}, err
		}
		for _, ifi := range ifs {
			for _, ia := range ipv4Addrs(&ifi) {
				if ia == a {
					return ifi, a, nil
				}
			}
		}
		return net.Interface{}, netip.Addr{}, fmt.Errorf("no interface has the address %s", a)
	}
	ifi, err := net.InterfaceByName(s)
	if err != nil {
		return net.Interface{}, netip.Addr{}, fmt.Errorf("interface %q: %w", s, err)
	}
	addrs := ipv4Addrs(ifi)
	if len(addrs) == 0 {
		return net.Interface{}, netip.Addr{}, fmt.Errorf("interface %q has no IPv4 address", s)
	}
	return *ifi, addrs[0], nil
}

func ipv4Addrs(ifi *net.Interface) []netip.Addr {
	as, err := ifi.Addrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap().Is4() {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}
