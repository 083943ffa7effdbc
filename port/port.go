// Package port holds the interfaces between the feed layers and the
// transports: a Sink carries a publisher's messages out over one endpoint,
// a Source brings one line's messages in. Transports (package zmtp for tcp://
// and ipc://, package pgm/pgmline for epgm:// and pgm://) implement them;
// package publisher writes to Sinks and package subscriber reads Sources;
// package endpoint opens the right one for an endpoint string.
//
// Nothing here imports anything of tickcast's, so a transport never depends
// on the feed layers above it, and a new transport (or a test double) needs
// only this package.
//
// # Concurrency
//
// A publisher calls Send and Flush from one goroutine, its sender, and Stats
// from any goroutine while Send runs. A subscriber calls Next from one
// goroutine, and Subscribe, Unsubscribe, Wake and Close from any goroutine
// while Next runs. Close may be called while Send or Next runs, and makes
// them return.
package port

import (
	"context"
	"errors"
	"time"
)

// ErrEndpoint is wrapped by every error about an endpoint string that cannot
// be used as written: an unsupported scheme, a malformed or out-of-range
// part, an interface that does not exist. Each transport's own sentinel
// (zmtp.ErrEndpoint, pgm/transport.ErrEndpoint) wraps it, and so does
// endpoint.ErrEndpoint, which is this same error.
var ErrEndpoint = errors.New("bad endpoint")

// A Sink carries a publisher's messages to subscribers over one transport
// endpoint. Every message is two ZeroMQ frames: the topic and the encoded
// body.
type Sink interface {
	// Send queues one message for transmission. It must not block on the
	// network, and it must not keep m's bytes once it returns: the
	// publisher reuses them. A message the sink cannot queue (a slow peer
	// over its high-water mark) is dropped and counted in SinkStats, not
	// returned as an error; an error means the sink itself failed.
	Send(m Message) error
	// Flush transmits what Send queued. The publisher calls it whenever its
	// own queue has drained, so a sink may hold messages until then to send
	// many per system call, without adding delay when the feed goes idle.
	Flush() error
	// Stats returns the sink's counters. It may be called from any
	// goroutine, while Send runs.
	Stats() SinkStats
	// Close flushes, waits a bounded time for queued data to leave, and
	// releases the endpoint.
	Close() error
}

// SubscriberWaiter is implemented by sinks that know their subscribers
// (tcp://, ipc://; multicast ones cannot).
type SubscriberWaiter interface {
	// WaitSubscribers blocks until at least n peers have subscribed (sent
	// at least one subscription, so that a message sent from then on
	// reaches them if it matches), until ctx is done (returning its
	// error), or until the sink is closed.
	WaitSubscribers(ctx context.Context, n int) error
}

// Message is one message for a sink: two ZeroMQ frames.
type Message struct {
	Topic []byte
	Body  []byte
	// Control marks heartbeats and session ends. They are few and small,
	// and they are what tells a subscriber exactly what it lost, so a sink
	// should queue them beyond the high-water mark that drops data for a
	// slow peer (within a bound of its own).
	Control bool
}

// SinkStats are one sink's counters since it was opened.
type SinkStats struct {
	Endpoint string // the endpoint as given, or as bound (tcp://127.0.0.1:port)
	Peers    int    // connected subscribers now; -1 where the transport cannot know (multicast)
	// Subscribed counts the peers with at least one subscription, those a
	// message can reach; -1 where the transport cannot know.
	Subscribed int
	Messages   uint64 // messages accepted by Send
	Bytes      uint64 // bytes accepted by Send (topic + body)
	// Dropped counts message copies not delivered to a peer because it was
	// over its high-water mark (a slow consumer) or went away with them queued.
	Dropped uint64
}

// A Source delivers the raw messages of one line: one endpoint a publisher
// (or several) sends to.
type Source interface {
	// Endpoint names the line in events and counters.
	Endpoint() string
	// Subscribe asks the line for messages whose topic starts with prefix.
	// A transport that cannot filter upstream (PGM) delivers everything;
	// the subscriber filters again in any case. Subscriptions are counted,
	// as ZeroMQ's are: each Subscribe is undone by one Unsubscribe.
	Subscribe(prefix []byte) error
	// Unsubscribe undoes one Subscribe of prefix.
	Unsubscribe(prefix []byte) error
	// Next blocks until it has at least one message or line event, until
	// deadline (zero: no deadline), or until Wake, when it returns an empty
	// batch. The batch, and the bytes it refers to, stay valid until the
	// next call. Next recovers from transient failures itself
	// (reconnecting, say) and reports them as line events; an error means
	// the source is finished.
	Next(deadline time.Time) (*Batch, error)
	// Wake makes a Next in progress return soon, with what it has or an
	// empty batch; if none is in progress, the next call may return at
	// once. Wake never blocks.
	Wake()
	// Close makes a blocked Next return an error and releases the line.
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

// A Requester sends one request and returns the reply: the client side of a
// recovery service (package zmtp's Requester, over tcp:// and ipc://).
// Request may be called from one goroutine at a time; Close from any, and
// makes a Request in progress return.
type Requester interface {
	// Endpoint names the service in events and counters.
	Endpoint() string
	// Request sends req's frames and returns the reply's, which are the
	// caller's to keep. It returns ctx's error when ctx ends first.
	Request(ctx context.Context, req ...[]byte) ([][]byte, error)
	Close() error
}
