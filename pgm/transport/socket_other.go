//go:build !linux

package transport

import (
	"net"
	"net/netip"
	"syscall"
)

// PGM sockets need Linux socket options (IP_MULTICAST_ALL, SO_REUSEPORT
// semantics) and recvmmsg/sendmmsg. Elsewhere opening one fails with
// ErrUnsupported; endpoint parsing still works.

type socketSpec struct {
	network   Network
	bind      netip.AddrPort
	reuseAddr bool
	reusePort bool
	iface     int
	ifaddr    netip.Addr
	hops      int
	loop      bool
	join      netip.Addr
	rcvbuf    int
	sndbuf    int
}

// SocketInfo reports the buffers a socket got.
type SocketInfo struct {
	RcvBuf, SndBuf int
	Forced         bool
}

func openSocket(socketSpec) (net.PacketConn, syscall.RawConn, SocketInfo, error) {
	return nil, nil, SocketInfo{}, ErrUnsupported
}

type readBatch struct{}

func newReadBatch(n, size int) *readBatch              { return &readBatch{} }
func (b *readBatch) read(syscall.RawConn) (int, error) { return 0, ErrUnsupported }
func (b *readBatch) datagram(int) (netip.Addr, []byte) { return netip.Addr{}, nil }

type writeBatch struct {
	n    int
	errs uint64
	err  error
}

func newWriteBatch(n, size int) *writeBatch               { return &writeBatch{} }
func (b *writeBatch) full() bool                          { return true }
func (b *writeBatch) add([]byte, netip.Addr, uint16) bool { return false }
func (b *writeBatch) flush(syscall.RawConn) error         { return ErrUnsupported }
