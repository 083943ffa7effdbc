package transport

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tickcast/tickcast/port"
)

// holdPort binds a UDP socket to a, with neither SO_REUSEADDR nor
// SO_REUSEPORT, as a program that does not share its port would, until the
// test ends. It sends nothing.
func holdPort(t *testing.T, a netip.AddrPort) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}); err != nil {
		t.Fatalf("holding %v: %v", a, err)
	}
}

// TestSystemErrorsAreWrapped checks that the system's error stays in the
// chain of the errors NewSender, NewReceiver and ParseEndpoint return,
// beside the package's sentinel, so that callers can tell an address in use
// from a missing interface with errors.Is. Each case is a real failure of
// the Linux kernel, on 127.0.0.1 and lo only.
//
// The sockets share their port (the Sender sets SO_REUSEPORT, the Receiver
// SO_REUSEADDR and SO_REUSEPORT), so a port used by another tickcast or
// libzmq peer is not an error (see the last subtest): EADDRINUSE comes
// only from a socket that does not share, here one holdPort binds.
// Raw pgm:// without CAP_NET_RAW (EPERM) is TestRawNeedsCapNetRaw's.
func TestSystemErrorsAreWrapped(t *testing.T) {
	cases := []struct {
		name string
		open func(t *testing.T) error
		is   []error // errors.Is must hold for each
	}{
		{
			name: "sender, port held on the interface's address",
			open: func(t *testing.T) error {
				ep := testEndpoint(t, "epgm")
				holdPort(t, netip.AddrPortFrom(ep.Addr, ep.Port))
				_, err := NewSender(ctx(t), ep, SenderConfig{}, &sliceFeeder{})
				return err
			},
			is: []error{ErrSocket, syscall.EADDRINUSE},
		},
		{
			name: "receiver, port held on the group's address",
			open: func(t *testing.T) error {
				ep := testEndpoint(t, "epgm")
				holdPort(t, netip.AddrPortFrom(ep.Group, ep.Port))
				_, err := NewReceiver(ctx(t), ep, ReceiverConfig{}, newCollector())
				return err
			},
			is: []error{ErrSocket, syscall.EADDRINUSE},
		},
		{
			name: "receiver, port held on 0.0.0.0",
			open: func(t *testing.T) error {
				ep := testEndpoint(t, "epgm")
				holdPort(t, netip.AddrPortFrom(netip.IPv4Unspecified(), ep.Port))
				_, err := NewReceiver(ctx(t), ep, ReceiverConfig{}, newCollector())
				return err
			},
			is: []error{ErrSocket, syscall.EADDRINUSE},
		},
		{
			// An Endpoint built by hand (or one whose address has gone
			// since it was parsed): the source's bind fails.
			name: "sender, address not the host's",
			open: func(t *testing.T) error {
				ep := testEndpoint(t, "epgm")
				ep.Addr = netip.MustParseAddr("192.0.2.77") // TEST-NET-1
				_, err := NewSender(ctx(t), ep, SenderConfig{}, &sliceFeeder{})
				return err
			},
			is: []error{ErrSocket, syscall.EADDRNOTAVAIL},
		},
		{
			// An interface that has gone since the endpoint was parsed:
			// IP_MULTICAST_IF names it by index, and Linux answers an
			// unknown index with EADDRNOTAVAIL (not ENODEV).
			name: "receiver, interface gone",
			open: func(t *testing.T) error {
				ep := testEndpoint(t, "epgm")
				ep.Interface.Index = 1 << 20
				_, err := NewReceiver(ctx(t), ep, ReceiverConfig{}, newCollector())
				return err
			},
			is: []error{ErrSocket, syscall.EADDRNOTAVAIL},
		},
		{
			name: "endpoint, no such interface",
			open: func(t *testing.T) error {
				_, err := ParseEndpoint("epgm://nosuchif0;239.192.7.1:7000")
				var opErr *net.OpError // net.InterfaceByName's, kept in the chain
				if !errors.As(err, &opErr) {
					t.Errorf("%v: no *net.OpError in the chain", err)
				}
				return err
			},
			is: []error{ErrEndpoint, port.ErrEndpoint},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.open(t)
			if err == nil {
				t.Fatal("no error")
			}
			for _, target := range c.is {
				if !errors.Is(err, target) {
					t.Errorf("%v: errors.Is(err, %v) is false", err, target)
				}
			}
			t.Log(err)
		})
	}

	// The control: peers that share the port are no error.
	t.Run("port shared by a second sender and receiver", func(t *testing.T) {
		ep := testEndpoint(t, "epgm")
		for range 2 {
			s, err := NewSender(ctx(t), ep, SenderConfig{}, &sliceFeeder{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(0)
			r, err := NewReceiver(ctx(t), ep, ReceiverConfig{}, newCollector())
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
		}
	})
}
