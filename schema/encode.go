package schema

import (
	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/tickcast/tickcast/schema/internal/fb"
)

// An Encoder builds messages. It reuses one buffer, so it allocates nothing
// once warm; it is not safe for concurrent use (keep one per goroutine).
type Encoder struct {
	b  *flatbuffers.Builder
	id [4]byte
}

// NewEncoder returns an encoder whose buffer starts at size bytes.
func NewEncoder(size int) *Encoder {
	return &Encoder{b: flatbuffers.NewBuilder(size), id: [4]byte([]byte(Identifier))}
}

// Encode returns h and ticks encoded as one Message. The result aliases the
// encoder's buffer: it is valid until the next call to Encode.
func (e *Encoder) Encode(h Header, ticks []Tick) []byte {
	b := e.b
	b.Reset()
	var vec flatbuffers.UOffsetT
	if len(ticks) > 0 {
		fb.MessageStartTicksVector(b, len(ticks))
		// FlatBuffers builds back to front.
		for i := len(ticks) - 1; i >= 0; i-- {
			t := &ticks[i]
			fb.CreateTick(b, t.Price, t.Size, t.Seq, t.EventTime, t.Instrument,
				fb.Kind(t.Kind), t.PriceExp, t.SizeExp, t.Flags)
		}
		vec = b.EndVector(len(ticks))
	}
	fb.MessageStart(b)
	fb.MessageAddSession(b, h.Session)
	fb.MessageAddStreamSeq(b, h.StreamSeq)
	fb.MessageAddSendTimeNs(b, h.SendTime)
	fb.MessageAddTopicSeq(b, h.TopicSeq)
	fb.MessageAddHeartbeatNs(b, h.Heartbeat)
	if len(ticks) > 0 {
		fb.MessageAddTicks(b, vec)
	}
	fb.MessageAddVersion(b, Version)
	fb.MessageAddType(b, fb.MessageType(h.Type))
	b.FinishWithFileIdentifier(fb.MessageEnd(b), e.id[:])
	return b.FinishedBytes()
}
