package publisher

// A Sink carries a publisher's messages to subscribers over one transport
// endpoint (tcp://, ipc://, epgm://, pgm://). Every message is two ZeroMQ
// frames: the topic and the encoded body.
//
// The publisher calls Send and Flush from one goroutine, so a sink need not
// lock against itself, only against its own I/O goroutines.
type Sink interface {
	// Send queues one message for transmission. It must not block on the
	// network, and it must not keep m's bytes once it returns: the
	// publisher reuses them. A message the sink cannot queue (a slow peer
	// over its high-water mark) is dropped and counted in SinkStats.
	Send(m Message) error
	// Flush transmits what Send queued. The publisher calls it whenever its
	// own queue has drained, so a sink may hold messages until then to send
	// many per system call, without adding delay when the feed goes idle.
	Flush() error
	// Stats returns the sink's counters.
	Stats() SinkStats
	// Close flushes, waits a bounded time for queued data to leave, and
	// releases the endpoint.
	Close() error
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
	Messages uint64 // messages accepted by Send
	Bytes    uint64 // bytes accepted by Send (topic + body)
	// Dropped counts message copies not delivered to a peer because it was
	// over its high-water mark (a slow consumer) or went away with them queued.
	Dropped uint64
}
