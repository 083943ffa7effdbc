package zmtp

import (
	"encoding/binary"
	"fmt"
	"net"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/security/null"
)

// handshakeTimeout bounds a peer's greeting and READY exchange.
const handshakeTimeout = 5 * time.Second

// maxHandshakeFrame bounds each frame of the handshake (the READY command
// and its metadata are a few dozen bytes from libzmq and zmq4).
const maxHandshakeFrame = 64 << 10

// greetingSize is the size of the ZMTP 3 greeting.
const greetingSize = 64

// handshake runs the ZMTP 3 greeting and NULL-mechanism READY exchange on c
// through zmq4, as socket type typ, and checks the peer's socket type.
//
// zmq4 reads frame sizes from the peer and allocates them before reading,
// and its metadata parser can index out of range on a malformed READY: a
// hostile peer could crash the process. So the connection zmq4 reads is
// guarded (frames over maxHandshakeFrame fail before zmq4 sees their
// size), the exchange has a deadline, and a panic in zmq4 becomes an error.
// After the handshake c is positioned exactly at the first frame: zmq4
// reads only what it needs.
func handshake(c net.Conn, typ zmq4.SocketType, server bool) (err error) {
	if err := c.SetDeadline(time.Now().Add(handshakeTimeout)); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: handshake: zmq4 panicked on the peer's bytes: %v", ErrProtocol, r)
		}
		if err == nil {
			err = c.SetDeadline(time.Time{})
		}
	}()
	g := &guard{Conn: c}
	if _, err := zmq4.Open(g, null.Security(), typ, zmq4.SocketIdentity(nil), server, nil); err != nil {
		return fmt.Errorf("zmtp: handshake with %s: %w", c.RemoteAddr(), err)
	}
	return nil
}

// guard follows the frame structure of the bytes a peer sends during the
// handshake and fails a read that would hand zmq4 an oversized frame size.
type guard struct {
	net.Conn
	seen   int // bytes passed through
	state  int // what the next byte is
	hdr    [9]byte
	hn     int    // header bytes collected
	remain uint64 // body bytes left in the current frame
}

const (
	guardGreeting = iota
	guardFlags
	guardHeader
	guardBody
)

func (g *guard) Read(p []byte) (int, error) {
	n, err := g.Conn.Read(p)
	for _, b := range p[:n] {
		if ferr := g.step(b); ferr != nil {
			return 0, ferr
		}
	}
	return n, err
}

func (g *guard) step(b byte) error {
	switch g.state {
	case guardGreeting:
		if g.seen++; g.seen == greetingSize {
			g.state = guardFlags
		}
	case guardFlags:
		g.hdr[0], g.hn = b, 1
		g.state = guardHeader
	case guardHeader:
		g.hdr[g.hn] = b
		g.hn++
		want := 2
		if g.hdr[0]&flagLong != 0 {
			want = 9
		}
		if g.hn < want {
			return nil
		}
		_, size, _ := frameHeader(g.hdr[:g.hn])
		if size > maxHandshakeFrame {
			return fmt.Errorf("%w: handshake frame of %d bytes", ErrFrameTooLong, size)
		}
		g.remain = size
		g.state = guardBody
		if size == 0 {
			g.state = guardFlags
		}
	case guardBody:
		if g.remain--; g.remain == 0 {
			g.state = guardFlags
		}
	}
	return nil
}

// subscription returns the ZMTP 3.0 subscription message for prefix: one
// frame, 1 then the prefix (0 then the prefix cancels).
func appendSubscription(dst []byte, subscribe bool, prefix []byte) []byte {
	var first byte
	if subscribe {
		first = 1
	}
	size := 1 + len(prefix)
	if size > 255 {
		dst = append(dst, flagLong)
		dst = binary.BigEndian.AppendUint64(dst, uint64(size))
	} else {
		dst = append(dst, 0, byte(size))
	}
	dst = append(dst, first)
	return append(dst, prefix...)
}
