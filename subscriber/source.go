package subscriber

import "time"

// A Source delivers the raw messages of one line: one endpoint a publisher
// (or several) sends to. Transports implement it; a Subscriber reads one or
// more of them.
type Source interface {
	// Endpoint names the line in events and counters.
	Endpoint() string
	// Subscribe asks the line for messages whose topic starts with prefix.
	// A transport that cannot filter upstream (PGM) delivers everything;
	// the subscriber filters again in any case.
	Subscribe(prefix []byte) error
	// Next blocks until it has at least one message or line event, or until
	// deadline (zero: no deadline), when it returns an empty batch. The
	// batch, and the bytes it refers to, stay valid until the next call.
	// Next recovers from transient failures itself (reconnecting, say) and
	// reports them as line events; an error means the source is finished.
	Next(deadline time.Time) (*Batch, error)
	// Close makes a blocked Next return and releases the line.
	Close() error
}

// Batch is what one Source.Next returns.
type Batch struct {
	Time   time.Time // when the data was read: the receive timestamp
	Msgs   []Raw
	Events []LineEvent
}

// Reset empties b for reuse, keeping its storage.
func (b *Batch) Reset() {
	b.Time = time.Time{}
	b.Msgs = b.Msgs[:0]
	b.Events = b.Events[:0]
}

// Raw is one ZeroMQ message as received. tickcast messages have two frames,
// the topic and the body; a message with any other count is foreign.
type Raw struct {
	Topic  []byte // frame 0
	Body   []byte // frame 1, if any
	Frames int    // how many frames the message had
	Size   int    // bytes of all its frames
}

// LineEventKind says what happened to a line.
type LineEventKind uint8

// Line events.
const (
	// LineUp: the transport connected (or joined) and data can flow.
	LineUp LineEventKind = iota + 1
	// LineDown: the transport lost its connection; it is trying again.
	LineDown
	// LineLoss: the transport lost data it could not recover (PGM:
	// unrecoverable loss). Which ticks it cost is found from sequence
	// numbers; this says where and how much at the transport level.
	LineLoss
)

// LineEvent is a transport's report about its line.
type LineEvent struct {
	Kind   LineEventKind
	Detail string // the peer's address, the failure, or the lost range
	Lost   uint64 // LineLoss: transport packets lost
}
