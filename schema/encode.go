package schema

import (
	"encoding/binary"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/tickcast/tickcast/schema/internal/fb"
)

// An Encoder builds messages. It reuses one buffer, so it allocates nothing
// once warm; it is not safe for concurrent use (keep one per goroutine).
type Encoder struct {
	b       *flatbuffers.Builder
	id      [4]byte
	scratch []byte                 // the tick vector's bytes, laid out before they are copied in
	offsets []flatbuffers.UOffsetT // EncodeRequest: the prefixes' offsets
}

// NewEncoder returns an encoder whose buffer starts at size bytes.
func NewEncoder(size int) *Encoder {
	return &Encoder{b: flatbuffers.NewBuilder(size), id: [4]byte([]byte(Identifier))}
}

// Encode returns h and ticks encoded as one Message. The result aliases the
// encoder's buffer: it is valid until the next call to the encoder (Encode,
// EncodeRequest or EncodeReply).
func (e *Encoder) Encode(h Header, ticks []Tick) []byte {
	b := e.b
	b.Reset()
	var vec flatbuffers.UOffsetT
	if len(ticks) > 0 {
		vec = e.tickVector(ticks)
	}
	fb.MessageStart(b)
	fb.MessageAddSession(b, h.Session)
	fb.MessageAddStreamSeq(b, h.StreamSeq)
	fb.MessageAddSendTimeNs(b, h.SendTime)
	fb.MessageAddTopicSeq(b, h.TopicSeq)
	fb.MessageAddHeartbeatNs(b, h.Heartbeat)
	fb.MessageAddPrevStreamSeq(b, h.PrevStreamSeq)
	fb.MessageAddPrevTopicSeq(b, h.PrevTopicSeq)
	if len(ticks) > 0 {
		fb.MessageAddTicks(b, vec)
	}
	fb.MessageAddVersion(b, Version)
	fb.MessageAddType(b, fb.MessageType(h.Type))
	b.FinishWithFileIdentifier(fb.MessageEnd(b), e.id[:])
	return b.FinishedBytes()
}

// tickVector writes ticks as the message's [Tick] vector and returns its
// offset. It lays the structs out in one pass and copies them into the
// builder, where the generated CreateTick would prepend each field of each
// tick separately (four times slower). The bytes are the same: the layout is
// tick.fbs's struct Tick, little-endian, 8-byte aligned.
func (e *Encoder) tickVector(ticks []Tick) flatbuffers.UOffsetT {
	n := len(ticks) * TickSize
	if cap(e.scratch) < n {
		e.scratch = make([]byte, n, 2*n)
	}
	buf := e.scratch[:n]
	for i := range ticks {
		t, p := &ticks[i], buf[i*TickSize:(i+1)*TickSize:(i+1)*TickSize]
		binary.LittleEndian.PutUint64(p[0:], uint64(t.Price))
		binary.LittleEndian.PutUint64(p[8:], uint64(t.Size))
		binary.LittleEndian.PutUint64(p[16:], t.Seq)
		binary.LittleEndian.PutUint64(p[24:], uint64(t.EventTime))
		binary.LittleEndian.PutUint32(p[32:], t.Instrument)
		p[36], p[37], p[38], p[39] = byte(t.Kind), byte(t.PriceExp), byte(t.SizeExp), t.Flags
	}
	b := e.b
	// Align as MessageStartTicksVector would: the first tick on 8 bytes,
	// its length just before it. CreateByteVector then adds no padding.
	b.Prep(flatbuffers.SizeUOffsetT, n)
	b.Prep(8, n)
	vec := b.CreateByteVector(buf)
	// CreateByteVector counted bytes; the vector's length counts ticks.
	binary.LittleEndian.PutUint32(b.Bytes[len(b.Bytes)-int(vec):], uint32(len(ticks)))
	return vec
}
