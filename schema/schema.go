// Package schema is tickcast's wire format: ticks, batches of ticks and the
// control messages of a feed, encoded with FlatBuffers (tick.fbs).
//
// Every tickcast message on the wire is a ZeroMQ message of two frames: the
// topic, which ZeroMQ prefix filtering matches, and a Message encoded by an
// Encoder. The recovery (retransmission) service speaks the same schema on a
// socket of its own: a Request is one frame, a Reply one frame followed by
// Reply.Count pairs of frames [topic, body] (see Encoder.EncodeReply).
//
// Bytes that come from the network are read only through Message.Decode,
// which checks every offset and length before it touches them: FlatBuffers
// for Go has no verifier, and its generated accessors panic or return garbage
// on malformed input.
package schema

import (
	"fmt"
	"math"
)

// Version is the wire version this package writes and the only one it reads.
const Version = 1

// Identifier is the FlatBuffers file identifier of every tickcast message
// (bytes 4..8 of the buffer).
const Identifier = "TKC1"

// ControlTopic is the topic of feed-wide control messages (Heartbeat and
// EndOfSession). It starts with a zero byte so that no ordinary topic prefix
// matches it; a subscriber subscribes to it in addition to its own prefixes.
const ControlTopic = "\x00tickcast"

// TickSize is the encoded size of one Tick.
const TickSize = 40

// Kind says what a tick reports.
type Kind uint8

// Tick kinds.
const (
	KindUnknown Kind = 0
	KindTrade   Kind = 1
	KindBid     Kind = 2
	KindAsk     Kind = 3
)

func (k Kind) String() string {
	switch k {
	case KindTrade:
		return "trade"
	case KindBid:
		return "bid"
	case KindAsk:
		return "ask"
	case KindUnknown:
		return "unknown"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Tick is one market event. Prices and sizes are fixed point: the value is
// Price × 10^PriceExp (Size × 10^SizeExp), so no precision is lost on the wire.
type Tick struct {
	Price      int64
	Size       int64
	Seq        uint64 // the topic's sequence number; the publisher assigns it
	EventTime  int64  // when the event happened, ns since the Unix epoch
	Instrument uint32
	Kind       Kind
	PriceExp   int8
	SizeExp    int8
	Flags      uint8 // reserved, 0
}

// PriceFloat returns the price as a float64: Price × 10^PriceExp. Keep the
// fixed-point fields for arithmetic that must be exact.
func (t Tick) PriceFloat() float64 { return float64(t.Price) * math.Pow10(int(t.PriceExp)) }

// SizeFloat returns the size as a float64: Size × 10^SizeExp.
func (t Tick) SizeFloat() float64 { return float64(t.Size) * math.Pow10(int(t.SizeExp)) }

// MessageType says what a Message carries.
type MessageType uint8

// Message types.
const (
	// Batch carries ticks of one topic, in sequence order.
	Batch MessageType = 1
	// Heartbeat is sent on ControlTopic every heartbeat interval, busy or
	// idle, so a subscriber of a quiet topic can still tell the feed is alive.
	Heartbeat MessageType = 2
	// TopicHeartbeat is sent on a topic that went idle, with the topic's
	// last sequence number, so the loss of its last tick is seen.
	TopicHeartbeat MessageType = 3
	// EndOfSession is sent on ControlTopic when the publisher closes.
	EndOfSession MessageType = 4
	// RecoveryRequest is a request to the recovery service (Message.Request;
	// Encoder.EncodeRequest), one frame on the service's socket.
	RecoveryRequest MessageType = 5
	// RecoveryReply is the recovery service's reply (Message.Reply;
	// Encoder.EncodeReply): frame 0 of a ZeroMQ message whose Reply.Count
	// pairs of frames [topic, body] follow.
	RecoveryReply MessageType = 6
	// Snapshot is a topic's last value, sent by the recovery service in a
	// reply: its ticks (one, the topic's last tick, as this package's users
	// write it; Decode requires at least one) read like a Batch's, TopicSeq
	// is the tick's sequence number, StreamSeq the stream sequence of the
	// message that carried it and Session the session. Encode writes it.
	Snapshot MessageType = 7
)

func (t MessageType) String() string {
	switch t {
	case Batch:
		return "batch"
	case Heartbeat:
		return "heartbeat"
	case TopicHeartbeat:
		return "topic-heartbeat"
	case EndOfSession:
		return "end-of-session"
	case RecoveryRequest:
		return "recovery-request"
	case RecoveryReply:
		return "recovery-reply"
	case Snapshot:
		return "snapshot"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Header is what a message says besides its ticks.
type Header struct {
	Type      MessageType
	Session   uint64 // the publisher's session id, new at every start
	StreamSeq uint64 // the publisher's stream sequence: +1 per message
	SendTime  int64  // ns since the Unix epoch, when the message was encoded
	TopicSeq  uint64 // TopicHeartbeat: the topic's last sequence number
	Heartbeat int64  // Heartbeat: the publisher's heartbeat interval in ns
	// Batch and TopicHeartbeat: the stream sequence of the previous message
	// on the topic (0: none) and the topic's last sequence number before it.
	PrevStreamSeq uint64
	PrevTopicSeq  uint64
}
