package transport

import (
	"net/netip"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

type sockState struct {
	reuseAddr, reusePort, mcastAll, ttl, loop int
	bound                                     netip.AddrPort
	mcastIf                                   netip.Addr
	rcvbuf                                    int
}

func inspect(t *testing.T, rc syscall.RawConn) sockState {
	t.Helper()
	var s sockState
	err := rc.Control(func(fd uintptr) {
		f := int(fd)
		s.reuseAddr, _ = unix.GetsockoptInt(f, unix.SOL_SOCKET, unix.SO_REUSEADDR)
		s.reusePort, _ = unix.GetsockoptInt(f, unix.SOL_SOCKET, unix.SO_REUSEPORT)
		s.mcastAll, _ = unix.GetsockoptInt(f, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL)
		s.ttl, _ = unix.GetsockoptInt(f, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL)
		s.loop, _ = unix.GetsockoptInt(f, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP)
		s.rcvbuf, _ = unix.GetsockoptInt(f, unix.SOL_SOCKET, unix.SO_RCVBUF)
		if a, err := unix.GetsockoptInet4Addr(f, unix.IPPROTO_IP, unix.IP_MULTICAST_IF); err == nil {
			s.mcastIf = netip.AddrFrom4(a)
		}
		if sa, err := unix.Getsockname(f); err == nil {
			if in, ok := sa.(*unix.SockaddrInet4); ok {
				s.bound = netip.AddrPortFrom(netip.AddrFrom4(in.Addr), uint16(in.Port))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSocketOptions checks the socket layout that lets tickcast and libzmq
// share a host (pgm-interop.md §9) and the network-safety settings.
func TestSocketOptions(t *testing.T) {
	ep := testEndpoint(t, "epgm")
	snd, err := NewSender(ctx(t), ep, SenderConfig{}, &sliceFeeder{})
	if err != nil {
		t.Fatal(err)
	}
	defer snd.Close(0)
	rcv, err := NewReceiver(ctx(t), ep, ReceiverConfig{}, newCollector())
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()

	s := inspect(t, snd.rc)
	if s.bound != netip.AddrPortFrom(ep.Addr, ep.Port) {
		t.Errorf("source bound to %v, want the NLA %v:%d", s.bound, ep.Addr, ep.Port)
	}
	if s.reusePort != 1 || s.mcastAll != 0 || s.ttl != 1 || s.mcastIf != ep.Addr {
		t.Errorf("source socket %+v: want SO_REUSEPORT, IP_MULTICAST_ALL 0, TTL 1, IP_MULTICAST_IF %v", s, ep.Addr)
	}
	if s.loop != 0 {
		t.Errorf("source on lo: multicast loop %d, want 0 (lo loops multicast back itself)", s.loop)
	}
	r := inspect(t, rcv.rc)
	if r.bound != netip.AddrPortFrom(ep.Group, ep.Port) {
		t.Errorf("receiver bound to %v, want the group %v:%d", r.bound, ep.Group, ep.Port)
	}
	if r.reuseAddr != 1 || r.reusePort != 1 || r.mcastAll != 0 || r.ttl != 1 || r.mcastIf != ep.Addr {
		t.Errorf("receiver socket %+v", r)
	}
	if unix.Geteuid() == 0 && r.rcvbuf < 2*DefaultReceiveBuffer {
		t.Errorf("receive buffer %d as root: SO_RCVBUFFORCE did not work", r.rcvbuf)
	}
	if !rcv.Stats().SocketInfo.Forced && unix.Geteuid() == 0 {
		t.Error("not forced as root")
	}

	// A second receiver and a second source on the same endpoint, as a
	// libzmq peer would be: the port is shared.
	rcv2, err := NewReceiver(ctx(t), ep, ReceiverConfig{}, newCollector())
	if err != nil {
		t.Fatalf("second receiver: %v", err)
	}
	rcv2.Close()
}
