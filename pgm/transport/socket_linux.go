package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tickcast/tickcast/pgm/wire"
)

// socketSpec says how to set up one socket. Everything a PGM socket needs is
// set explicitly, the multicast interface above all: nothing is left to
// the OS's routing table.
type socketSpec struct {
	network   Network
	bind      netip.AddrPort // raw sockets: the port is ignored
	reuseAddr bool
	reusePort bool
	// iface and ifaddr are the interface multicast is sent from and joined on.
	iface  int
	ifaddr netip.Addr
	hops   int  // IP_MULTICAST_TTL
	loop   bool // IP_MULTICAST_LOOP
	join   netip.Addr
	rcvbuf int
	sndbuf int
}

// SocketInfo reports the buffers a socket got.
type SocketInfo struct {
	RcvBuf, SndBuf int  // as the kernel reports them (twice what was granted)
	Forced         bool // SO_RCVBUFFORCE/SO_SNDBUFFORCE worked (CAP_NET_ADMIN)
}

// dscpEF is the IP TOS libzmq asks OpenPGM for (PGM_TOS 0x2e<<2): expedited
// forwarding. Failure to set it is ignored, as libzmq does.
const dscpEF = 0x2e << 2

// openSocket creates, configures and binds a socket, and hands it to the Go
// runtime's poller.
func openSocket(s socketSpec) (net.PacketConn, syscall.RawConn, SocketInfo, error) {
	var info SocketInfo
	var fd int
	var err error
	switch s.network {
	case EPGM:
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	case PGM:
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, wire.IPProtoPGM)
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, nil, info, fmt.Errorf("%w: %w", ErrPermission, err)
		}
	default:
		return nil, nil, info, fmt.Errorf("%w: unknown network %v", ErrSocket, s.network)
	}
	if err != nil {
		return nil, nil, info, fmt.Errorf("%w: socket: %w", ErrSocket, err)
	}
	fail := func(what string, err error) (net.PacketConn, syscall.RawConn, SocketInfo, error) {
		unix.Close(fd)
		return nil, nil, info, fmt.Errorf("%w: %s: %w", ErrSocket, what, err)
	}
	if s.reuseAddr {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fail("SO_REUSEADDR", err)
		}
	}
	if s.reusePort {
		// Every socket sharing the port must set it, libzmq's included
		// (OpenPGM sets only this one).
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("SO_REUSEPORT", err)
		}
	}
	if s.rcvbuf > 0 {
		info.Forced = setBuffer(fd, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, s.rcvbuf)
	}
	if s.sndbuf > 0 {
		info.Forced = setBuffer(fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, s.sndbuf) && (info.Forced || s.rcvbuf <= 0)
	}
	info.RcvBuf, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	info.SndBuf, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TOS, dscpEF) // best effort, as libzmq
	// The multicast interface, by index: the kernel never picks one.
	mreq := unix.IPMreqn{Address: s.ifaddr.As4(), Ifindex: int32(s.iface)}
	if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &mreq); err != nil {
		return fail("IP_MULTICAST_IF", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, max(s.hops, 1)); err != nil {
		return fail("IP_MULTICAST_TTL", err)
	}
	loop := 0
	if s.loop {
		loop = 1
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, loop); err != nil {
		return fail("IP_MULTICAST_LOOP", err)
	}
	// Linux delivers to a socket every group any socket of the host joined
	// on its port unless this is off; only the groups this socket joined.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0); err != nil {
		return fail("IP_MULTICAST_ALL", err)
	}
	port := int(s.bind.Port())
	if s.network == PGM {
		port = 0
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: s.bind.Addr().As4()}); err != nil {
		return fail("bind "+s.bind.String(), err)
	}
	if s.join.IsValid() {
		jreq := unix.IPMreqn{Multiaddr: s.join.As4(), Address: s.ifaddr.As4(), Ifindex: int32(s.iface)}
		if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, &jreq); err != nil {
			return fail("join "+s.join.String(), err)
		}
	}
	f := os.NewFile(uintptr(fd), "pgm")
	pc, err := net.FilePacketConn(f) // dups the descriptor
	f.Close()
	if err != nil {
		return nil, nil, info, fmt.Errorf("%w: %w", ErrSocket, err)
	}
	sc, ok := pc.(syscall.Conn)
	if !ok {
		pc.Close()
		return nil, nil, info, fmt.Errorf("%w: %T has no raw access", ErrSocket, pc)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		pc.Close()
		return nil, nil, info, fmt.Errorf("%w: %w", ErrSocket, err)
	}
	return pc, rc, info, nil
}

// setBuffer sets a socket buffer size, beyond net.core.[rw]mem_max if the
// process has CAP_NET_ADMIN (the FORCE option), else as large as the limit
// allows. It reports whether FORCE worked.
func setBuffer(fd, force, plain, n int) bool {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, n) == nil {
		return true
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, plain, n) // capped by the sysctl
	return false
}
