package apdu

import (
	"encoding/binary"
	"errors"
)

// Default limits of a Decoder.
const (
	DefaultMaxMessageSize = 1 << 20
	DefaultMaxFrames      = 256
)

// Errors returned by Decoder.Feed. After any of them the decoder has dropped
// the message in progress and waits for the next message boundary.
var (
	ErrShortAPDU = errors.New("apdu: APDU shorter than its 2-byte offset")
	ErrBadOffset = errors.New("apdu: APDU offset beyond the end of the APDU")
	ErrBadFrame  = errors.New("apdu: frame with a zero length")
	ErrTooLarge  = errors.New("apdu: message exceeds the decoder's size or frame limit")
)

// Stats counts what a Decoder did since it was created.
type Stats struct {
	Messages  uint64 // complete messages decoded
	Discarded uint64 // messages dropped half-decoded, by Reset or by an error
	Skipped   uint64 // APDUs skipped while waiting for a message boundary
	Errors    uint64 // malformed APDUs and frames
}

// Decoder turns the APDUs of one source (one TSI) back into messages, as
// libzmq's pgm_receiver and v1_decoder do, with two differences: a message is
// delivered only once all its frames are in, so a message cut by loss is
// dropped whole (and counted) instead of having its first frames delivered
// and its tail merged into later messages; and message size and frame count
// are bounded, so a hostile peer cannot make it allocate much.
//
// Joining: a new Decoder, or one after Reset or an error, skips APDUs whose
// offset is NoOffset, then starts decoding at the offset of the next one.
// Once joined, offsets are ignored, as in libzmq: the stream is continuous.
//
// The caller feeds the payloads of the source's ODATA/RDATA in sequence order
// with Feed, calls Next until it returns nil after each Feed, and calls Reset
// when PGM reports unrecoverable loss for the source.
//
// Set MaxMessageSize and MaxFrames before the first Feed; zero means the
// defaults. The zero value is ready to use. A Decoder is not safe for
// concurrent use; it allocates nothing once its buffers have grown to the
// largest message.
type Decoder struct {
	// MaxMessageSize bounds the total size of the frame bodies of a message
	// (libzmq's ZMQ_MAXMSGSIZE bounds each frame). A frame whose announced
	// length breaks it is refused before any of its body is buffered.
	MaxMessageSize int
	// MaxFrames bounds the number of frames of a message.
	MaxFrames int

	joined bool

	// Frame being decoded.
	state     state
	lenBuf    [8]byte // the long length, as it arrives
	lenN      int
	left      uint64 // body bytes of the current frame still to come
	more      bool   // the current frame has FlagMore
	msgSize   int    // body bytes of the message in progress
	msgFrames int    // frames of the message in progress, the current one included

	// buf holds the bodies of the complete messages not yet returned by Next,
	// followed by the message in progress. ends[i] is where frame i ends in
	// buf; msgEnds[j] is the number of frames up to the end of message j.
	buf     []byte
	ends    []int
	msgEnds []int
	next    int      // index in msgEnds of the next message for Next
	view    [][]byte // returned by Next

	stats Stats
}

type state uint8

const (
	stLength     state = iota // expecting a frame's first byte
	stLongLength              // inside the 8-byte length
	stFlags
	stBody
)

// Feed decodes one APDU, an ODATA or RDATA payload of the source in sequence
// order. It returns an error if the APDU or a frame in it is malformed; the
// error has been counted and the decoder resynchronises by itself, so the
// caller only logs it. Messages completed before the error are still
// returned by Next.
//
// Feed does not keep apdu. It invalidates the messages returned by Next so
// far.
func (d *Decoder) Feed(apdu []byte) error {
	d.compact()
	if len(apdu) < offsetLen {
		return d.fail(ErrShortAPDU)
	}
	data := apdu[offsetLen:]
	if !d.joined {
		off := int(binary.BigEndian.Uint16(apdu))
		if off == NoOffset {
			d.stats.Skipped++
			return nil
		}
		if off > len(data) {
			return d.fail(ErrBadOffset)
		}
		data = data[off:]
		d.joined = true
	}
	if err := d.decode(data); err != nil {
		return d.fail(err)
	}
	return nil
}

// Next returns the next complete message, one slice per frame, or nil when
// the APDUs fed so far hold no more. The message stays valid until the next
// call of any Decoder method; its frames have no spare capacity, so
// appending to one copies it.
func (d *Decoder) Next() [][]byte {
	if d.next == len(d.msgEnds) {
		return nil
	}
	first, last := 0, d.msgEnds[d.next]
	if d.next > 0 {
		first = d.msgEnds[d.next-1]
	}
	start := 0
	if first > 0 {
		start = d.ends[first-1]
	}
	d.view = d.view[:0]
	for _, end := range d.ends[first:last] {
		d.view = append(d.view, d.buf[start:end:end])
		start = end
	}
	d.next++
	return d.view
}

// Reset drops the message in progress, counting it as discarded if any of it
// had arrived, and makes the decoder wait for the next APDU with a message
// boundary. The state machine calls it when PGM reports unrecoverable loss.
// Complete messages not yet returned by Next are kept.
func (d *Decoder) Reset() {
	if d.state != stLength || d.msgFrames > 0 {
		d.stats.Discarded++
	}
	frames := 0
	if n := len(d.msgEnds); n > 0 {
		frames = d.msgEnds[n-1]
	}
	size := 0
	if frames > 0 {
		size = d.ends[frames-1]
	}
	d.buf, d.ends = d.buf[:size], d.ends[:frames]
	d.state, d.lenN, d.left, d.more, d.msgSize, d.msgFrames = stLength, 0, 0, false, 0, 0
	d.joined = false
}

// Joined reports whether the decoder is at a known position in the stream.
func (d *Decoder) Joined() bool { return d.joined }

// Stats returns the decoder's counters.
func (d *Decoder) Stats() Stats { return d.stats }

func (d *Decoder) fail(err error) error {
	d.stats.Errors++
	d.Reset()
	return err
}

// compact drops the messages Next has returned, moving the rest of buf to
// its front.
func (d *Decoder) compact() {
	if d.next == 0 {
		return
	}
	frames := d.msgEnds[d.next-1]
	size := d.ends[frames-1]
	d.buf = d.buf[:copy(d.buf, d.buf[size:])]
	d.ends = d.ends[:copy(d.ends, d.ends[frames:])]
	for i := range d.ends {
		d.ends[i] -= size
	}
	d.msgEnds = d.msgEnds[:copy(d.msgEnds, d.msgEnds[d.next:])]
	for i := range d.msgEnds {
		d.msgEnds[i] -= frames
	}
	d.next = 0
}

// decode runs the v1 frame state machine over data.
func (d *Decoder) decode(data []byte) error {
	for len(data) > 0 {
		switch d.state {
		case stLength:
			n := data[0]
			data = data[1:]
			switch n {
			case 0:
				return ErrBadFrame
			case 0xFF:
				d.state, d.lenN = stLongLength, 0
			default:
				if err := d.startFrame(uint64(n)); err != nil {
					return err
				}
			}
		case stLongLength:
			k := copy(d.lenBuf[d.lenN:], data)
			d.lenN += k
			data = data[k:]
			if d.lenN == len(d.lenBuf) {
				n := binary.BigEndian.Uint64(d.lenBuf[:])
				if n == 0 {
					return ErrBadFrame
				}
				if err := d.startFrame(n); err != nil {
					return err
				}
			}
		case stFlags:
			d.more = data[0]&FlagMore != 0
			data = data[1:]
			d.state = stBody
			if d.left == 0 {
				d.endFrame()
			}
		case stBody:
			k := min(uint64(len(data)), d.left)
			d.buf = append(d.buf, data[:k]...)
			data = data[k:]
			d.left -= k
			if d.left == 0 {
				d.endFrame()
			}
		}
	}
	return nil
}

// startFrame begins a frame whose length field (body plus flags byte) is n,
// checking the limits before any of the body is stored.
func (d *Decoder) startFrame(n uint64) error {
	maxSize, maxFrames := d.MaxMessageSize, d.MaxFrames
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	if maxFrames <= 0 {
		maxFrames = DefaultMaxFrames
	}
	body := n - 1
	if d.msgFrames >= maxFrames || body > uint64(maxSize-d.msgSize) {
		return ErrTooLarge
	}
	d.left = body
	d.msgSize += int(body)
	d.msgFrames++
	d.state = stFlags
	return nil
}

func (d *Decoder) endFrame() {
	d.ends = append(d.ends, len(d.buf))
	d.state = stLength
	if !d.more {
		d.msgEnds = append(d.msgEnds, len(d.ends))
		d.msgSize, d.msgFrames = 0, 0
		d.stats.Messages++
	}
}
