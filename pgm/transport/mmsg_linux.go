package transport

import (
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batched datagram I/O with recvmmsg and sendmmsg, on headers, addresses
// and buffers allocated once: x/net/ipv4's ReadBatch allocates per message.
// The syscalls run inside syscall.RawConn callbacks, so the Go runtime's
// poller does the waiting and deadlines and Close work as on any net conn.

// readBatch receives up to len(bufs) datagrams per system call.
type readBatch struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet4
	bufs  [][]byte
	n     int
	err   error
	fn    func(fd uintptr) bool // b.recv, bound once: no allocation per read
}

func newReadBatch(n, size int) *readBatch {
	b := &readBatch{
		hdrs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet4, n),
		bufs:  make([][]byte, n),
	}
	arena := make([]byte, n*size)
	for i := range n {
		b.bufs[i] = arena[i*size : (i+1)*size : (i+1)*size]
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(size)
		h := &b.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
	}
	b.fn = b.recv
	return b
}

// read waits for datagrams (or the connection's read deadline) and receives
// as many as are queued, up to the batch size.
func (b *readBatch) read(rc syscall.RawConn) (int, error) {
	for i := range b.hdrs {
		b.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
		b.hdrs[i].Hdr.Flags = 0
	}
	b.n, b.err = 0, nil
	if err := rc.Read(b.fn); err != nil {
		return 0, err
	}
	return b.n, b.err
}

func (b *readBatch) recv(fd uintptr) bool {
	for {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)),
			unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			b.n = int(r)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // nothing queued: let the poller wait
		default:
			b.err = e
			return true
		}
	}
}

// datagram returns the i-th datagram received and its source address. A
// datagram longer than the buffer is truncated (MSG_TRUNC): the PGM parser
// then finds its lengths inconsistent and drops it.
func (b *readBatch) datagram(i int) (netip.Addr, []byte) {
	h := &b.hdrs[i]
	var from netip.Addr
	if h.Hdr.Namelen >= 8 && b.names[i].Family == unix.AF_INET {
		from = netip.AddrFrom4(b.names[i].Addr)
	}
	n := min(int(h.Len), len(b.bufs[i]))
	return from, b.bufs[i][:n]
}

// writeBatch sends up to its size of datagrams per system call. Packets are
// copied in: the source and receiver state machines return views valid
// only until their next call.
type writeBatch struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet4
	bufs  [][]byte
	n     int // datagrams added
	sent  int // datagrams handed to the kernel
	// errs counts datagrams the kernel refused (dropped, not retried); err
	// is the last such error.
	errs uint64
	err  error
	fn   func(fd uintptr) bool
}

func newWriteBatch(n, size int) *writeBatch {
	b := &writeBatch{
		hdrs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet4, n),
		bufs:  make([][]byte, n),
	}
	arena := make([]byte, n*size)
	for i := range n {
		b.bufs[i] = arena[i*size : i*size : (i+1)*size]
		b.iovs[i].Base = &arena[i*size]
		h := &b.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Namelen = unix.SizeofSockaddrInet4
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
	}
	b.fn = b.send
	return b
}

func (b *writeBatch) full() bool { return b.n == len(b.hdrs) }

// add copies pkt into the batch, to be sent to to:port (port 0 for raw
// sockets). It returns false, copying nothing, when the batch is full or pkt
// is larger than a slot.
func (b *writeBatch) add(pkt []byte, to netip.Addr, port uint16) bool {
	if b.full() || len(pkt) > cap(b.bufs[b.n]) || len(pkt) == 0 {
		return false
	}
	i := b.n
	b.bufs[i] = append(b.bufs[i][:0], pkt...)
	b.iovs[i].SetLen(len(pkt))
	sa := &b.names[i]
	sa.Family = unix.AF_INET
	// sin_port is in network byte order.
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	sa.Addr = to.As4()
	b.n++
	return true
}

// flush sends everything added, waiting for room in the socket buffer if
// need be, and empties the batch.
func (b *writeBatch) flush(rc syscall.RawConn) error {
	defer func() { b.n, b.sent = 0, 0 }()
	if b.n == 0 {
		return nil
	}
	return rc.Write(b.fn)
}

func (b *writeBatch) send(fd uintptr) bool {
	for b.sent < b.n {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[b.sent])), uintptr(b.n-b.sent),
			unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			b.sent += int(r)
		case unix.EINTR:
		case unix.EAGAIN:
			return false // socket buffer full: wait until writable
		default:
			// The kernel refused the first datagram (a firewall rule, no
			// route, ...): drop it, as a lossy network would, and go on.
			// PGM's repair or loss reporting takes it from there.
			b.errs++
			b.err = e
			b.sent++
		}
	}
	return true
}
