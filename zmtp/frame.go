package zmtp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
)

// ZMTP 3.x frame flags (rfc.zeromq.org/spec/23: "flags"). The other bits,
// 7-3, are reserved: they "MUST be zero" (spec 37, "Framing").
const (
	flagMore     = 0x01
	flagLong     = 0x02
	flagCommand  = 0x04
	flagReserved = 0xf8
)

// Frame errors. A peer that sends one is disconnected.
var (
	ErrProtocol     = errors.New("zmtp: protocol error")
	ErrFrameTooLong = fmt.Errorf("%w: frame longer than the limit", ErrProtocol)
)

// appendFrame appends one frame (header and body) to dst.
func appendFrame(dst []byte, flags byte, body []byte) []byte {
	if len(body) > 255 {
		dst = append(dst, flags|flagLong)
		dst = binary.BigEndian.AppendUint64(dst, uint64(len(body)))
	} else {
		dst = append(dst, flags, byte(len(body)))
	}
	return append(dst, body...)
}

// appendCommand appends a command frame: name length, name, data.
func appendCommand(dst []byte, name string, data []byte) []byte {
	size := 1 + len(name) + len(data)
	if size > 255 {
		dst = append(dst, flagCommand|flagLong)
		dst = binary.BigEndian.AppendUint64(dst, uint64(size))
	} else {
		dst = append(dst, flagCommand, byte(size))
	}
	dst = append(dst, byte(len(name)))
	dst = append(dst, name...)
	return append(dst, data...)
}

// frameHeader parses the header of the frame at the start of b: its flags,
// body size and header length. n is 0 if b does not hold the whole header;
// want is then how many bytes it needs.
func frameHeader(b []byte) (flags byte, size uint64, n, want int) {
	if len(b) < 2 {
		return 0, 0, 0, 2
	}
	flags = b[0]
	if flags&flagLong == 0 {
		return flags, uint64(b[1]), 2, 2
	}
	if len(b) < 9 {
		return 0, 0, 0, 9
	}
	return flags, binary.BigEndian.Uint64(b[1:9]), 9, 9
}

// message is one parsed message, or one command, viewed in the read buffer.
type message struct {
	command bool
	frames  int
	first   []byte // frame 0 (for a command: its whole body)
	second  []byte // frame 1, if any
	size    int    // bytes of all frame bodies
}

// parseMessage parses the message at the start of b. It returns the
// message and the bytes it took; n = 0 means b holds only part of it, and
// need then says how many bytes b must hold at least to get further: a
// reader parses again only once it has them, so that a message arriving a
// few bytes at a time is not parsed over and over. A frame or message
// longer than max bytes, a message of more than maxFrames frames (empty
// frames cost nothing to send and would cost a parse each), reserved flag
// bits, and a command that is not a single frame are errors.
func parseMessage(b []byte, max, maxFrames int) (m message, n, need int, err error) {
	for {
		flags, size, hn, want := frameHeader(b[n:])
		if hn == 0 {
			if len(b) > n && b[n]&flagReserved != 0 {
				return message{}, 0, 0, fmt.Errorf("%w: reserved frame flags %#02x", ErrProtocol, b[n])
			}
			return message{}, 0, n + want, nil
		}
		if flags&flagReserved != 0 {
			return message{}, 0, 0, fmt.Errorf("%w: reserved frame flags %#02x", ErrProtocol, flags)
		}
		if size > uint64(max) || uint64(m.size)+size > uint64(max) {
			return message{}, 0, 0, fmt.Errorf("%w (%d bytes, limit %d)", ErrFrameTooLong, uint64(m.size)+size, max)
		}
		if m.frames >= maxFrames {
			return message{}, 0, 0, fmt.Errorf("%w: a message of more than %d frames", ErrProtocol, maxFrames)
		}
		end := n + hn + int(size)
		if end > len(b) {
			return message{}, 0, end, nil
		}
		body := b[n+hn : end]
		if flags&flagCommand != 0 {
			if m.frames > 0 || flags&flagMore != 0 {
				return message{}, 0, 0, fmt.Errorf("%w: command inside a message", ErrProtocol)
			}
			// Commands are single frames (ZMTP 3.1 §"commands").
			return message{command: true, frames: 1, first: body, size: int(size)}, end, 0, nil
		}
		switch m.frames {
		case 0:
			m.first = body
		case 1:
			m.second = body
		}
		m.frames++
		m.size += int(size)
		n = end
		if flags&flagMore == 0 {
			return m, n, 0, nil
		}
	}
}

// parseCommand splits a command body into its name and data.
func parseCommand(body []byte) (name string, data []byte, err error) {
	if len(body) < 1 || int(body[0]) > len(body)-1 {
		return "", nil, fmt.Errorf("%w: malformed command", ErrProtocol)
	}
	n := int(body[0])
	return string(body[1 : 1+n]), body[1+n:], nil
}

// frameReader reads whole messages from a connection into one buffer: next
// parses the next message in it, fill reads more. A message larger than
// the buffer grows it, up to the most one message within the limits can
// take (max bytes of bodies and a long header per frame), never beyond:
// parseMessage checks what a peer declares against the limits from the
// frame headers, before anything is read. Each of a Pub's subscribers, a
// Replier's and a Requester's connections, and each publisher of a binding
// Sub has one; a dialling Sub's Next parses its own buffer, which outlives
// the messages' hand-over differently.
type frameReader struct {
	buf       []byte
	r, w      int // buf[r:w] is read, not parsed yet
	need      int // bytes buf[r:w] must hold before it is parsed again
	max       int // bytes of frame bodies in one message
	maxFrames int // frames in one message
}

func newFrameReader(size, max, maxFrames int) frameReader {
	return frameReader{buf: make([]byte, size), max: max, maxFrames: maxFrames}
}

// bound is the most bytes one message within the limits takes, headers
// included: the buffer never grows beyond.
func (f *frameReader) bound() int { return f.max + (f.maxFrames+1)*frameHeaderLong }

// next parses the next whole message in the buffer. ok is false when the
// buffer holds none: fill reads more. raw is the message's bytes, headers
// included; it and m's frames are views into the buffer, valid until the
// next fill. An error is the peer's: a frame or message beyond the limits,
// reserved flags, a command inside a message.
func (f *frameReader) next() (m message, raw []byte, ok bool, err error) {
	if f.w-f.r < f.need {
		return message{}, nil, false, nil
	}
	m, n, need, err := parseMessage(f.buf[f.r:f.w], f.max, f.maxFrames)
	if err != nil {
		return message{}, nil, false, err
	}
	if n == 0 {
		f.need = need
		return message{}, nil, false, nil
	}
	raw = f.buf[f.r : f.r+n]
	f.r, f.need = f.r+n, 0
	return m, raw, true, nil
}

// fill reads from c once, after next has reported no whole message: the
// unparsed bytes move to the front of the buffer first, which grows if the
// message in progress needs more than it holds. It returns what Read did.
func (f *frameReader) fill(c net.Conn) (int, error) {
	if f.r > 0 {
		f.w = copy(f.buf, f.buf[f.r:f.w])
		f.r = 0
	}
	if f.need > len(f.buf) {
		f.buf = grow(f.buf[:f.w], max(f.need, min(2*len(f.buf), f.bound())))
	}
	n, err := c.Read(f.buf[f.w:])
	f.w += n
	return n, err
}

// pending is the room the unparsed bytes need: what they hold, or what the
// message in progress needs, whichever is more.
func (f *frameReader) pending() int { return max(f.w-f.r, f.need) }

// swap moves the unparsed bytes into nb, which must have room for pending
// bytes, and goes on in it; it returns the old buffer, which becomes the
// caller's with the messages in it.
func (f *frameReader) swap(nb []byte) []byte {
	old := f.buf
	f.w = copy(nb, f.buf[f.r:f.w])
	f.r, f.buf = 0, nb
	return old
}
