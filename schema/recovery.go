package schema

import (
	"encoding/binary"
	"errors"
	"fmt"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/tickcast/tickcast/schema/internal/fb"
)

// The recovery (retransmission) service's messages.
//
// A request is one frame: a Message of type RecoveryRequest, written by
// EncodeRequest. A reply is one ZeroMQ message: frame 0 a Message of type
// RecoveryReply, written by EncodeReply, then Reply.Count pairs of frames
// [topic, body], each body a Message as it was originally published (Replay:
// Batch messages, which may hold ticks outside the range asked for: the
// client keeps what it needs) or of type Snapshot (written by Encode).

// MaxPrefixes is the most prefixes a snapshot request may hold: Decode
// rejects a request with more (ErrTooManyPrefixes), and so does Validate.
const MaxPrefixes = 1024

// ErrInvalidRequest is what Request.Validate's errors wrap: a request that
// decodes but does not make sense. A service answers it with ReplyBadRequest,
// the error's text as the reply's Detail.
var ErrInvalidRequest = errors.New("schema: invalid recovery request")

// RequestKind says what a Request asks for.
type RequestKind uint8

// Request kinds. The zero kind is no request: Validate rejects it.
const (
	// ReplayRequest asks for the ticks of one topic, Request.From to
	// Request.To (topic sequence numbers, inclusive).
	ReplayRequest RequestKind = 1
	// SnapshotRequest asks for the last value of every topic matching
	// Request.Prefixes.
	SnapshotRequest RequestKind = 2
)

func (k RequestKind) String() string {
	switch k {
	case ReplayRequest:
		return "replay"
	case SnapshotRequest:
		return "snapshot"
	}
	return fmt.Sprintf("request-kind(%d)", uint8(k))
}

// Request is a request to the recovery service.
//
// Decoded, its byte slices are views of the decoded bytes, valid while those
// bytes are (copy what must outlive them); their capacity ends with them, so
// appending to one never writes into the buffer.
type Request struct {
	Kind    RequestKind
	ID      uint64 // the client's correlation id; the reply echoes it
	Session uint64 // 0: whichever session the service holds now
	// Replay: the topic, and the topic sequence numbers wanted, inclusive.
	Topic    []byte
	From, To uint64
	// Snapshot: topic prefixes, matched as ZeroMQ matches subscriptions. An
	// empty prefix matches every topic, and so does an empty list.
	Prefixes [][]byte
}

// Validate reports whether r makes sense, with an error wrapping
// ErrInvalidRequest if not. Decode checks only that a request is well formed;
// a service calls Validate on what it decoded, a client may call it before
// EncodeRequest.
//
// A replay needs a topic and 1 ≤ From ≤ To (topic sequence numbers start at
// 1), and no prefixes. A snapshot needs no range and at most MaxPrefixes
// prefixes (none means every topic); its Topic is left to the service (which
// may read it as where a partial snapshot resumes).
func (r *Request) Validate() error {
	switch r.Kind {
	case ReplayRequest:
		switch {
		case len(r.Topic) == 0:
			return fmt.Errorf("%w: replay without a topic", ErrInvalidRequest)
		case r.From == 0 || r.From > r.To:
			return fmt.Errorf("%w: replay of range %d..%d", ErrInvalidRequest, r.From, r.To)
		case len(r.Prefixes) != 0:
			return fmt.Errorf("%w: replay with prefixes", ErrInvalidRequest)
		}
	case SnapshotRequest:
		switch {
		case r.From != 0 || r.To != 0:
			return fmt.Errorf("%w: snapshot with a range", ErrInvalidRequest)
		case len(r.Prefixes) > MaxPrefixes:
			return fmt.Errorf("%w: %d prefixes (at most %d)", ErrInvalidRequest, len(r.Prefixes), MaxPrefixes)
		}
	default:
		return fmt.Errorf("%w: unknown kind %d", ErrInvalidRequest, uint8(r.Kind))
	}
	return nil
}

// ReplyStatus says how the recovery service answered.
type ReplyStatus uint8

// Reply statuses.
const (
	// ReplyOK: the whole range (or snapshot) follows.
	ReplyOK ReplyStatus = 0
	// ReplyPartial: a prefix of the range follows, up to Reply.To (replies
	// are bounded); ask again from To+1.
	ReplyPartial ReplyStatus = 1
	// ReplyNotAvailable: the service lacks tick Reply.To+1 (evicted, never
	// received, or not yet published); the messages up to Reply.To follow.
	// Reply.HeldFrom is the next sequence number it holds after that (0:
	// none), Reply.HeldTo the topic's last.
	ReplyNotAvailable ReplyStatus = 2
	// ReplyUnknownSession: the service holds no such session; Reply.Session
	// says the one it holds.
	ReplyUnknownSession ReplyStatus = 3
	// ReplyBadRequest: the request is malformed or out of bounds;
	// Reply.Detail says why.
	ReplyBadRequest ReplyStatus = 4
	// ReplyBusy: try again later.
	ReplyBusy ReplyStatus = 5
)

func (s ReplyStatus) String() string {
	switch s {
	case ReplyOK:
		return "ok"
	case ReplyPartial:
		return "partial"
	case ReplyNotAvailable:
		return "not-available"
	case ReplyUnknownSession:
		return "unknown-session"
	case ReplyBadRequest:
		return "bad-request"
	case ReplyBusy:
		return "busy"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Reply is the recovery service's answer to a Request: frame 0 of a ZeroMQ
// message whose Count pairs of frames [topic, body] follow.
//
// Decoded, its Topic is a view of the decoded bytes, like a Request's; Detail
// is a copy (so it can be kept, logged and set from an error's text), the one
// allocation of decoding, on the error path only: a reply without a detail
// decodes without allocating.
type Reply struct {
	Status  ReplyStatus
	ID      uint64 // the request's ID
	Session uint64 // the session of what follows (UnknownSession: the one the service holds)
	Topic   []byte // Replay: the request's topic
	// Replay: the topic sequence numbers sent (Partial: ask again from To+1).
	From, To uint64
	// NotAvailable: what the service holds of the topic (0, 0: nothing).
	HeldFrom, HeldTo uint64
	Count            uint32 // pairs of frames [topic, body] after this one
	Detail           string // a human-readable reason (BadRequest), or ""
}

// Field slots of tables RecoveryRequest and RecoveryReply, in tick.fbs order.
const (
	reqKind = iota
	reqID
	reqSession
	reqTopic
	reqFrom
	reqTo
	reqPrefixes
	numReqSlots
)

const (
	repStatus = iota
	repID
	repSession
	repTopic
	repFrom
	repTo
	repHeldFrom
	repHeldTo
	repCount
	repDetail
	numRepSlots
)

var (
	reqSlotSize = [numReqSlots]uint64{1, 8, 8, 4, 8, 8, 4}
	repSlotSize = [numRepSlots]uint64{1, 8, 8, 4, 8, 8, 8, 8, 4, 4}
)

// decode reads the RecoveryRequest table at pos of buf into r, whose
// Prefixes storage it reuses; r is otherwise zero.
func (r *Request) decode(buf []byte, pos uint64) error {
	t, err := checkTable(buf, pos, reqSlotSize[:])
	if err != nil {
		return err
	}
	r.Kind = RequestKind(t.u8(buf, reqKind))
	r.ID = t.u64(buf, reqID)
	r.Session = t.u64(buf, reqSession)
	r.From = t.u64(buf, reqFrom)
	r.To = t.u64(buf, reqTo)
	if r.Topic, err = t.str(buf, reqTopic); err != nil {
		return err
	}
	// [string]: [length u32][length × u32 offsets, each to a string].
	if vec, ok := t.ref(buf, reqPrefixes); ok {
		size := uint64(len(buf))
		if vec+4 > size {
			return ErrBounds
		}
		n := uint64(binary.LittleEndian.Uint32(buf[vec:]))
		if n > MaxPrefixes {
			return ErrTooManyPrefixes
		}
		if vec+4+4*n > size {
			return ErrBounds
		}
		for at := vec + 4; at < vec+4+4*n; at += 4 {
			p, err := stringAt(buf, at)
			if err != nil {
				return err
			}
			r.Prefixes = append(r.Prefixes, p)
		}
	}
	return nil
}

// decode reads the RecoveryReply table at pos of buf into r, which is zero.
func (r *Reply) decode(buf []byte, pos uint64) error {
	t, err := checkTable(buf, pos, repSlotSize[:])
	if err != nil {
		return err
	}
	r.Status = ReplyStatus(t.u8(buf, repStatus))
	r.ID = t.u64(buf, repID)
	r.Session = t.u64(buf, repSession)
	r.From = t.u64(buf, repFrom)
	r.To = t.u64(buf, repTo)
	r.HeldFrom = t.u64(buf, repHeldFrom)
	r.HeldTo = t.u64(buf, repHeldTo)
	r.Count = t.u32(buf, repCount)
	if r.Topic, err = t.str(buf, repTopic); err != nil {
		return err
	}
	detail, err := t.str(buf, repDetail)
	if err != nil {
		return err
	}
	if len(detail) > 0 {
		r.Detail = string(detail)
	}
	return nil
}

// EncodeRequest returns r encoded as a Message of type RecoveryRequest. Like
// Encode's, the result aliases the encoder's buffer: it is valid until the
// next call to the encoder. It encodes r as it is, valid or not (see
// Request.Validate); empty byte slices are written as absent fields.
func (e *Encoder) EncodeRequest(r *Request) []byte {
	b := e.b
	b.Reset()
	var topic, prefixes flatbuffers.UOffsetT
	if len(r.Topic) > 0 {
		topic = b.CreateByteString(r.Topic)
	}
	if len(r.Prefixes) > 0 {
		offs := e.offsets[:0]
		for _, p := range r.Prefixes {
			offs = append(offs, b.CreateByteString(p))
		}
		e.offsets = offs
		fb.RecoveryRequestStartPrefixesVector(b, len(offs))
		for i := len(offs) - 1; i >= 0; i-- {
			b.PrependUOffsetT(offs[i])
		}
		prefixes = b.EndVector(len(offs))
	}
	fb.RecoveryRequestStart(b)
	fb.RecoveryRequestAddId(b, r.ID)
	fb.RecoveryRequestAddSession(b, r.Session)
	fb.RecoveryRequestAddFromSeq(b, r.From)
	fb.RecoveryRequestAddToSeq(b, r.To)
	if topic != 0 {
		fb.RecoveryRequestAddTopic(b, topic)
	}
	if prefixes != 0 {
		fb.RecoveryRequestAddPrefixes(b, prefixes)
	}
	fb.RecoveryRequestAddKind(b, fb.RequestKind(r.Kind))
	req := fb.RecoveryRequestEnd(b)

	fb.MessageStart(b)
	fb.MessageAddRequest(b, req)
	fb.MessageAddVersion(b, Version)
	fb.MessageAddType(b, fb.MessageTypeRecoveryRequest)
	b.FinishWithFileIdentifier(fb.MessageEnd(b), e.id[:])
	return b.FinishedBytes()
}

// EncodeReply returns r encoded as a Message of type RecoveryReply: frame 0
// of the reply, which the caller follows with r.Count pairs of frames. The
// result aliases the encoder's buffer, valid until the next call to the
// encoder.
func (e *Encoder) EncodeReply(r *Reply) []byte {
	b := e.b
	b.Reset()
	var topic, detail flatbuffers.UOffsetT
	if len(r.Topic) > 0 {
		topic = b.CreateByteString(r.Topic)
	}
	if len(r.Detail) > 0 {
		detail = b.CreateString(r.Detail)
	}
	fb.RecoveryReplyStart(b)
	fb.RecoveryReplyAddId(b, r.ID)
	fb.RecoveryReplyAddSession(b, r.Session)
	fb.RecoveryReplyAddFromSeq(b, r.From)
	fb.RecoveryReplyAddToSeq(b, r.To)
	fb.RecoveryReplyAddHeldFrom(b, r.HeldFrom)
	fb.RecoveryReplyAddHeldTo(b, r.HeldTo)
	if topic != 0 {
		fb.RecoveryReplyAddTopic(b, topic)
	}
	if detail != 0 {
		fb.RecoveryReplyAddDetail(b, detail)
	}
	fb.RecoveryReplyAddCount(b, r.Count)
	fb.RecoveryReplyAddStatus(b, fb.ReplyStatus(r.Status))
	rep := fb.RecoveryReplyEnd(b)

	fb.MessageStart(b)
	fb.MessageAddReply(b, rep)
	fb.MessageAddVersion(b, Version)
	fb.MessageAddType(b, fb.MessageTypeRecoveryReply)
	b.FinishWithFileIdentifier(fb.MessageEnd(b), e.id[:])
	return b.FinishedBytes()
}
