package zmtp

import (
	"encoding/binary"
	"errors"
	"fmt"
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
