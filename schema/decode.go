package schema

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	flatbuffers "github.com/google/flatbuffers/go"
)

// Decoding errors. Every error Decode returns wraps ErrMalformed; the more
// specific ones say why.
var (
	ErrMalformed  = errors.New("schema: malformed message")
	ErrIdentifier = fmt.Errorf("%w: not a tickcast message (file identifier)", ErrMalformed)
	ErrVersion    = fmt.Errorf("%w: unsupported version", ErrMalformed)
	ErrType       = fmt.Errorf("%w: unknown message type", ErrMalformed)
	ErrBounds     = fmt.Errorf("%w: offset or length out of bounds", ErrMalformed)
	// ErrTooManyPrefixes rejects a RecoveryRequest of more than
	// MaxPrefixes prefixes.
	ErrTooManyPrefixes = fmt.Errorf("%w: more than %d prefixes", ErrMalformed, MaxPrefixes)
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
	slotRequest
	slotReply
	numSlots
)

// Sizes of the fields in the table (ticks, request and reply are 4-byte
// offsets).
var slotSize = [numSlots]uint64{1, 1, 8, 8, 8, 8, 8, 4, 8, 8, 4, 4}

// Message is a decoded message: a view of the bytes it was decoded from,
// valid while those bytes are. The zero value is ready for Decode; reuse one
// Message for many decodes to allocate nothing.
type Message struct {
	Header
	// Request is the request of a RecoveryRequest message, Reply the reply
	// of a RecoveryReply; both are zero for other types. Their byte slices
	// are views of the decoded bytes, like the ticks (Reply.Detail, a
	// string, is a copy). Decode reuses Request.Prefixes' storage from one
	// call to the next.
	Request Request
	Reply   Reply
	buf     []byte
	ticks   uint64 // offset of the first tick
	n       int
}

// Decode checks that buf is a well-formed tickcast message of a version and
// type this package knows, and makes m a view of it. It never panics, whatever
// buf holds; on error m is left empty.
//
// Decode checks structure, not meaning: a RecoveryRequest decodes whatever
// its kind and range say (see Request.Validate), a RecoveryReply whatever its
// status.
func (m *Message) Decode(buf []byte) error {
	m.reset()
	if err := m.decode(buf); err != nil {
		m.reset()
		return err
	}
	return nil
}

// reset empties m, keeping the storage of Request.Prefixes (but not the
// views it held, so that they do not keep old buffers alive).
func (m *Message) reset() {
	prefixes := m.Request.Prefixes
	clear(prefixes)
	*m = Message{}
	m.Request.Prefixes = prefixes[:0]
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
	t, err := checkTable(buf, uint64(binary.LittleEndian.Uint32(buf)), slotSize[:])
	if err != nil {
		return err
	}

	// The vtable is sound: every field it lists may be read. (Reading them
	// here rather than through the generated accessors, which look each
	// vtable entry up again, makes a small message's decode a third faster.)
	if v := t.u8(buf, slotVersion); v != Version {
		return fmt.Errorf("%w %d (want %d)", ErrVersion, v, Version)
	}
	m.Type = MessageType(t.u8(buf, slotType))
	switch m.Type {
	case Batch, Heartbeat, TopicHeartbeat, EndOfSession, RecoveryRequest, RecoveryReply, Snapshot:
	default:
		return fmt.Errorf("%w %d", ErrType, uint8(m.Type))
	}
	m.Session = t.u64(buf, slotSession)
	m.StreamSeq = t.u64(buf, slotStreamSeq)
	m.SendTime = int64(t.u64(buf, slotSendTime))
	m.TopicSeq = t.u64(buf, slotTopicSeq)
	m.Heartbeat = int64(t.u64(buf, slotHeartbeat))
	m.PrevStreamSeq = t.u64(buf, slotPrevStreamSeq)
	m.PrevTopicSeq = t.u64(buf, slotPrevTopicSeq)

	// The tick vector: a forward offset to [length u32][length × TickSize].
	if vec, ok := t.ref(buf, slotTicks); ok {
		if vec+4 > size {
			return ErrBounds
		}
		n := uint64(binary.LittleEndian.Uint32(buf[vec:]))
		if vec+4+n*TickSize > size {
			return ErrBounds
		}
		m.ticks, m.n = vec+4, int(n)
	}
	switch m.Type {
	case Batch, Snapshot:
		if m.n == 0 {
			return fmt.Errorf("%w: %v without ticks", ErrMalformed, m.Type)
		}
	case RecoveryRequest:
		pos, ok := t.ref(buf, slotRequest)
		if !ok {
			return fmt.Errorf("%w: recovery request without its request", ErrMalformed)
		}
		if err := m.Request.decode(buf, pos); err != nil {
			return err
		}
	case RecoveryReply:
		pos, ok := t.ref(buf, slotReply)
		if !ok {
			return fmt.Errorf("%w: recovery reply without its reply", ErrMalformed)
		}
		if err := m.Reply.decode(buf, pos); err != nil {
			return err
		}
	}
	m.buf = buf
	return nil
}

// table is a FlatBuffers table whose vtable checkTable has checked: every
// field the vtable lists lies inside the table.
type table struct {
	pos    uint64 // the table's offset in the buffer
	vt     uint64 // its vtable's offset
	vtSize uint64 // the vtable's size in bytes
}

// checkTable checks the table at offset pos of buf, whose fields (in slot
// order) have the sizes given: its vtable must lie inside buf, and every
// field the vtable lists inside the table, which must lie inside buf. Fields
// past len(sizes) (a later schema's) are ignored, whatever their offsets.
func checkTable(buf []byte, pos uint64, sizes []uint64) (table, error) {
	size := uint64(len(buf))
	if pos+4 > size {
		return table{}, ErrBounds
	}
	// The table starts with a signed offset back (or forward) to its vtable.
	vtable := int64(pos) - int64(int32(binary.LittleEndian.Uint32(buf[pos:])))
	if vtable < 0 || uint64(vtable)+4 > size {
		return table{}, ErrBounds
	}
	vt := uint64(vtable)
	vtSize := uint64(binary.LittleEndian.Uint16(buf[vt:]))
	objSize := uint64(binary.LittleEndian.Uint16(buf[vt+2:]))
	if vtSize < 4 || vtSize%2 != 0 || vt+vtSize > size || objSize < 4 || pos+objSize > size {
		return table{}, ErrBounds
	}
	// Every field present must lie inside the table.
	for i, fieldSize := range sizes {
		entry := 4 + 2*uint64(i)
		if entry+2 > vtSize {
			break // fields added after this writer's schema: absent
		}
		off := uint64(binary.LittleEndian.Uint16(buf[vt+entry:]))
		if off != 0 && (off < 4 || off+fieldSize > objSize) {
			return table{}, ErrBounds
		}
	}
	return table{pos: pos, vt: vt, vtSize: vtSize}, nil
}

// field returns the offset in buf of field slot, 0 if absent.
func (t table) field(buf []byte, slot int) uint64 {
	entry := uint64(4 + 2*slot)
	if entry+2 > t.vtSize {
		return 0
	}
	if off := uint64(binary.LittleEndian.Uint16(buf[t.vt+entry:])); off != 0 {
		return t.pos + off
	}
	return 0
}

// u8, u32 and u64 read scalar field slot (0 if absent); checkTable checked
// that it lies inside the table, given its size.
func (t table) u8(buf []byte, slot int) uint8 {
	if at := t.field(buf, slot); at != 0 {
		return buf[at]
	}
	return 0
}

func (t table) u32(buf []byte, slot int) uint32 {
	if at := t.field(buf, slot); at != 0 {
		return binary.LittleEndian.Uint32(buf[at:])
	}
	return 0
}

func (t table) u64(buf []byte, slot int) uint64 {
	if at := t.field(buf, slot); at != 0 {
		return binary.LittleEndian.Uint64(buf[at:])
	}
	return 0
}

// ref follows offset field slot (a table, vector or string) and returns the
// offset it points to, which the caller must check; false if absent.
func (t table) ref(buf []byte, slot int) (uint64, bool) {
	at := t.field(buf, slot)
	if at == 0 {
		return 0, false
	}
	return at + uint64(binary.LittleEndian.Uint32(buf[at:])), true
}

// str returns string field slot (nil if absent) as a view of buf.
func (t table) str(buf []byte, slot int) ([]byte, error) {
	at := t.field(buf, slot)
	if at == 0 {
		return nil, nil
	}
	return stringAt(buf, at)
}

// stringAt returns, as a view of buf, the string the offset at position at
// points to: [length u32][length bytes][0]. at+4 ≤ len(buf).
func stringAt(buf []byte, at uint64) ([]byte, error) {
	size := uint64(len(buf))
	s := at + uint64(binary.LittleEndian.Uint32(buf[at:]))
	if s+4 > size {
		return nil, ErrBounds
	}
	end := s + 4 + uint64(binary.LittleEndian.Uint32(buf[s:]))
	// The terminating zero, as the FlatBuffers verifier requires.
	if end >= size || buf[end] != 0 {
		return nil, ErrBounds
	}
	return buf[s+4 : end : end], nil
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
