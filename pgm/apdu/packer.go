package apdu

import (
	"encoding/binary"
	"errors"
)

// APDU size limits, the offset header included. libzmq sizes APDUs at its
// PGM_MSS: the 1500-byte default ZMQ_MULTICAST_MAXTPDU minus IP, UDP (EPGM
// only) and a PGM data header with room for OPT_FRAGMENT. Staying at or below
// it keeps every APDU in one TPDU, which a libzmq receiver requires.
const (
	MaxAPDUEPGM = 1428 // epgm://: 1500 - 20 (IP) - 8 (UDP) - 44
	MaxAPDUPGM  = 1436 // pgm:// (raw IP): 1500 - 20 (IP) - 44
)

// NoOffset is the APDU offset meaning that no message begins in the APDU.
const NoOffset = 0xFFFF

// offsetLen is the size of the offset at the start of every APDU.
const offsetLen = 2

// ErrEmptyMessage is returned by Packer.Add for a message without frames.
var ErrEmptyMessage = errors.New("apdu: message without frames")

var errMaxAPDU = errors.New("apdu: APDU size must be 3 to 65535 bytes")

// Packer packs messages into APDUs byte for byte as libzmq's pgm_sender does:
// frames are appended to the open APDU, many messages share an APDU, and a
// message longer than the room left continues in the next ones. The offset
// of an APDU points at the first message that begins in it. libzmq also sets
// it when a message ends inside the APDU and nothing follows yet, so it can
// equal the APDU's data length; Packer does the same.
//
// The sender calls Add for each message, takes full APDUs with Next as they
// appear, and calls Flush when it has nothing more to send right now, which
// closes the partly filled APDU so that Next returns it without waiting for
// more messages (libzmq sends the partial APDU when its queue is empty).
// Every APDU has at least one byte after the offset.
//
// Buffers are recycled, so a Packer allocates nothing once it has as many as
// the most APDUs ever waiting at once. The zero value packs APDUs of
// MaxAPDUEPGM bytes. A Packer is not safe for concurrent use.
type Packer struct {
	max        int
	cur        []byte // the open APDU, or nil
	offset     int    // offset for cur; -1 until a message begins in it
	msgWritten bool   // some bytes of the message being added are written
	ready      [][]byte
	head       int      // ready[head:] wait for Next
	free       [][]byte // recycled buffers
	lent       []byte   // returned by the last Next; recycled by the next call
}

// NewPacker returns a Packer whose APDUs, offset included, have at most
// maxAPDU bytes (MaxAPDUEPGM or MaxAPDUPGM to match libzmq).
func NewPacker(maxAPDU int) (*Packer, error) {
	if maxAPDU < offsetLen+1 || maxAPDU > 0xFFFF {
		return nil, errMaxAPDU
	}
	return &Packer{max: maxAPDU}, nil
}

// Add appends one message, a frame per element of frames (frames may be
// empty). The frames are copied before Add returns.
func (p *Packer) Add(frames ...[]byte) error {
	if len(frames) == 0 {
		return ErrEmptyMessage
	}
	if p.max == 0 {
		p.max = MaxAPDUEPGM
	}
	p.msgWritten = false
	var hdr [10]byte
	for i, f := range frames {
		p.write(appendFrameHeader(hdr[:0], len(f), i < len(frames)-1))
		p.write(f)
	}
	// The message ends here: a boundary, if it falls inside an APDU.
	if p.cur != nil && p.offset < 0 {
		p.offset = len(p.cur) - offsetLen
	}
	return nil
}

// Flush closes the open APDU, if any, so that Next returns it.
func (p *Packer) Flush() {
	if len(p.cur) > offsetLen {
		p.close()
	}
}

// Next returns the oldest complete APDU, or nil if there is none. The APDU is
// valid until the next call to Next or Reset.
func (p *Packer) Next() []byte {
	if p.lent != nil {
		p.free = append(p.free, p.lent[:0])
		p.lent = nil
	}
	if p.head == len(p.ready) {
		p.ready, p.head = p.ready[:0], 0
		return nil
	}
	b := p.ready[p.head]
	p.ready[p.head] = nil
	p.head++
	p.lent = b
	return b
}

// Pending returns the number of complete APDUs waiting for Next.
func (p *Packer) Pending() int { return len(p.ready) - p.head }

// Buffered returns how many bytes, offset included, the open APDU holds.
func (p *Packer) Buffered() int { return len(p.cur) }

// Reset drops all APDUs, complete or not, and starts a new stream whose first
// APDU begins with a message.
func (p *Packer) Reset() {
	for _, b := range p.ready[p.head:] {
		p.free = append(p.free, b[:0])
	}
	clear(p.ready)
	p.ready, p.head = p.ready[:0], 0
	for _, b := range [...][]byte{p.cur, p.lent} {
		if b != nil {
			p.free = append(p.free, b[:0])
		}
	}
	p.cur, p.lent = nil, nil
}

// write appends b to the stream, opening and closing APDUs as needed.
func (p *Packer) write(b []byte) {
	for len(b) > 0 {
		if p.cur == nil {
			p.open()
		}
		n := copy(p.cur[len(p.cur):p.max], b)
		p.cur = p.cur[:len(p.cur)+n]
		b = b[n:]
		p.msgWritten = true
		if len(p.cur) == p.max {
			p.close()
		}
	}
}

func (p *Packer) open() {
	var buf []byte
	if n := len(p.free); n > 0 {
		buf, p.free = p.free[n-1], p.free[:n-1]
	} else {
		buf = make([]byte, 0, p.max)
	}
	p.cur = buf[:offsetLen]
	p.offset = -1
	if !p.msgWritten {
		p.offset = 0 // the message being added begins this APDU
	}
}

func (p *Packer) close() {
	off := p.offset
	if off < 0 {
		off = NoOffset
	}
	binary.BigEndian.PutUint16(p.cur, uint16(off))
	if p.head > 0 && len(p.ready) == cap(p.ready) {
		// Reuse the consumed front of the queue instead of growing it.
		n := copy(p.ready, p.ready[p.head:])
		clear(p.ready[n:])
		p.ready, p.head = p.ready[:n], 0
	}
	p.ready = append(p.ready, p.cur)
	p.cur = nil
}
