package schema

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/tickcast/tickcast/schema/internal/fb"
)

// Decoding errors. Every error Decode returns wraps ErrMalformed; the more
// specific ones say why.
var (
	ErrMalformed  = errors.New("schema: malformed message")
	ErrIdentifier = fmt.Errorf("%w: not a tickcast message (file identifier)", ErrMalformed)
	ErrVersion    = fmt.Errorf("%w: unsupported version", ErrMalformed)
	ErrType       = fmt.Errorf("%w: unknown message type", ErrMalformed)
	ErrBounds     = fmt.Errorf("%w: offset or length out of bounds", ErrMalformed)
)

// Field slots of table Message, in tick.fbs order: the vtable entry of field
// i is at 4+2i.
const (
	slotVersion = iota
	slotType
	slotSession
	slotStreamSeq
	slotSendTime
	slotTopicSeq
	slotHeartbeat
	slotTicks
	slotPrevStreamSeq
	slotPrevTopicSeq
	numSlots
)

// Sizes of the fields in the table (ticks is a 4-byte offset to the vector).
var slotSize = [numSlots]uint64{1, 1, 8, 8, 8, 8, 8, 4, 8, 8}

// Message is a decoded message: a view of the bytes it was decoded from,
// valid while those bytes are. The zero value is ready for Decode; reuse one
// Message for many decodes to allocate nothing.
type Message struct {
	Header
	buf   []byte
	ticks uint64 // offset of the first tick
	n     int
}

// Decode checks that buf is a well-formed tickcast message of a version and
// type this package knows, and makes m a view of it. It never panics, whatever
// buf holds; on error m is left empty.
func (m *Message) Decode(buf []byte) error {
	*m = Message{}
	if err := m.decode(buf); err != nil {
		*m = Message{}
		return err
	}
	return nil
}

func (m *Message) decode(buf []byte) error {
	size := uint64(len(buf))
	// Root offset and file identifier.
	if size < 8 || size > 1<<31 {
		return ErrBounds
	}
	if !flatbuffers.BufferHasIdentifier(buf, Identifier) {
		return ErrIdentifier
	}
	table := uint64(binary.LittleEndian.Uint32(buf))
	if table+4 > size {
		return ErrBounds
	}
	// The table starts with a signed offset back (or forward) to its vtable.
	vtable := int64(table) - int64(int32(binary.LittleEndian.Uint32(buf[table:])))
	if vtable < 0 || uint64(vtable)+4 > size {
		return ErrBounds
	}
	vt := uint64(vtable)
	vtSize := uint64(binary.LittleEndian.Uint16(buf[vt:]))
	objSize := uint64(binary.LittleEndian.Uint16(buf[vt+2:]))
	if vtSize < 4 || vtSize%2 != 0 || vt+vtSize > size || objSize < 4 || table+objSize > size {
		return ErrBounds
	}
	// Every field present must lie inside the table.
	for i := range uint64(numSlots) {
		entry := 4 + 2*i
		if entry+2 > vtSize {
			break // fields added after this writer's schema: absent
		}
		off := uint64(binary.LittleEndian.Uint16(buf[vt+entry:]))
		if off != 0 && (off < 4 || off+slotSize[i] > objSize) {
			return ErrBounds
		}
	}

	// The vtable is sound: the generated accessors may now read the table.
	var msg fb.Message
	msg.Init(buf, flatbuffers.UOffsetT(table))
	if v := msg.Version(); v != Version {
		return fmt.Errorf("%w %d (want %d)", ErrVersion, v, Version)
	}
	m.Type = MessageType(msg.Type())
	switch m.Type {
	case Batch, Heartbeat, TopicHeartbeat, EndOfSession:
	default:
		return fmt.Errorf("%w %d", ErrType, uint8(m.Type))
	}
	m.Session = msg.Session()
	m.StreamSeq = msg.StreamSeq()
	m.SendTime = msg.SendTimeNs()
	m.TopicSeq = msg.TopicSeq()
	m.Heartbeat = msg.HeartbeatNs()
	m.PrevStreamSeq = msg.PrevStreamSeq()
	m.PrevTopicSeq = msg.PrevTopicSeq()

	// The tick vector: a forward offset to [length u32][length × TickSize].
	if off := fieldOffset(buf, vt, vtSize, slotTicks); off != 0 {
		field := table + off
		vec := field + uint64(binary.LittleEndian.Uint32(buf[field:]))
		if vec+4 > size {
			return ErrBounds
		}
		n := uint64(binary.LittleEndian.Uint32(buf[vec:]))
		if vec+4+n*TickSize > size {
			return ErrBounds
		}
		m.ticks, m.n = vec+4, int(n)
	}
	if m.Type == Batch && m.n == 0 {
		return fmt.Errorf("%w: batch without ticks", ErrMalformed)
	}
	m.buf = buf
	return nil
}

// fieldOffset returns the offset of field slot in its table, 0 if absent. The
// caller has checked the vtable.
func fieldOffset(buf []byte, vt, vtSize uint64, slot int) uint64 {
	entry := uint64(4 + 2*slot)
	if entry+2 > vtSize {
		return 0
	}
	return uint64(binary.LittleEndian.Uint16(buf[vt+entry:]))
}

// Len returns the number of ticks in the message.
func (m *Message) Len() int { return m.n }

// Tick returns tick i, 0 ≤ i < Len(). It panics on an index out of range,
// like a slice; the message bytes themselves were checked by Decode.
func (m *Message) Tick(i int) Tick {
	if uint(i) >= uint(m.n) {
		panic(fmt.Sprintf("schema: tick index %d out of range [0,%d)", i, m.n))
	}
	off := m.ticks + uint64(i)*TickSize
	return readTick(m.buf[off : off+TickSize : off+TickSize])
}

// readTick reads a struct Tick. Decode checked the whole vector; reading the
// fields here under one bounds check is several times faster than the
// generated accessors (a call and a check per field). The offsets are
// tick.fbs's: TestEncodedBytesAreStandardFlatBuffers holds them to the
// generated code.
func readTick(p []byte) Tick {
	_ = p[TickSize-1]
	return Tick{
		Price:      int64(binary.LittleEndian.Uint64(p[0:])),
		Size:       int64(binary.LittleEndian.Uint64(p[8:])),
		Seq:        binary.LittleEndian.Uint64(p[16:]),
		EventTime:  int64(binary.LittleEndian.Uint64(p[24:])),
		Instrument: binary.LittleEndian.Uint32(p[32:]),
		Kind:       Kind(p[36]),
		PriceExp:   int8(p[37]),
		SizeExp:    int8(p[38]),
		Flags:      p[39],
	}
}

// AppendTicks appends the message's ticks to dst and returns the result.
func (m *Message) AppendTicks(dst []Tick) []Tick {
	dst = slices.Grow(dst, m.n)
	vec := m.buf[m.ticks : m.ticks+uint64(m.n)*TickSize]
	for len(vec) >= TickSize {
		dst = append(dst, readTick(vec[:TickSize]))
		vec = vec[TickSize:]
	}
	return dst
}
