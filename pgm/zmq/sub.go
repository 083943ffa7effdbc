package zmq

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickcast/tickcast/pgm/apdu"
	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/transport"
	"github.com/tickcast/tickcast/pgm/wire"
)

// Sub defaults.
const (
	// DefaultQueue is how many batches may wait between the socket's
	// goroutine and Next. With DefaultBatchBytes each, that is 1 MiB of
	// messages; beyond it the data waits in the PGM receive window, whose
	// overrun reports the loss if the application stays away too long.
	DefaultQueue = 4
	// DefaultBatchBytes is the frame bytes at which a batch is handed over
	// without waiting for the end of the datagrams at hand.
	DefaultBatchBytes = 256 << 10
)

// SubConfig configures a Sub.
type SubConfig struct {
	Receiver transport.ReceiverConfig
	// MaxMessageSize bounds a message (its frames' bytes); 0 means
	// apdu.DefaultMaxMessageSize. A longer one is dropped and counted.
	MaxMessageSize int
	// Queue and BatchBytes: see DefaultQueue and DefaultBatchBytes.
	Queue, BatchBytes int
}

// EventKind says what an Event reports.
type EventKind uint8

// Events are about the sources a Sub follows: those that delivered at least
// one well-formed message. A source that never did (a forged TSI, a
// program sending junk to the group) reports nothing: its losses are
// counted in SubStats.UnfollowedLosses, not reported as the line's. A
// source's losses before its first message are held (added up) and
// reported with it.
const (
	// PeerUp: a PGM source (TSI) delivered its first message.
	PeerUp EventKind = iota + 1
	// PeerDown: a followed source ended its session (OPT_FIN), or sent no
	// SPM for the peer expiry time, and is forgotten; everything it sent
	// was delivered or reported lost.
	PeerDown
	// Loss: sequence numbers SQN..SQN+Count-1 of a followed source can
	// never be delivered. Its stream resynchronises at the next message
	// boundary; Discarded messages cut by the loss were dropped whole.
	Loss
)

func (k EventKind) String() string {
	switch k {
	case PeerUp:
		return "peer up"
	case PeerDown:
		return "peer down"
	case Loss:
		return "loss"
	}
	return "event?"
}

// Event is something a Sub reports besides messages.
type Event struct {
	Kind      EventKind
	TSI       wire.TSI
	Source    netip.Addr // PeerUp: the IP address the source sends from
	SQN       uint32     // Loss: the first lost sequence number
	Count     uint32     // Loss: how many
	Discarded uint64     // Loss: messages cut by it, dropped whole
}

// Message is one received message.
type Message struct {
	Frames [][]byte
	TSI    wire.TSI // the source it came from
}

// Batch is what Next returns: messages in order per source, and events in
// order with them (a Loss comes after the messages before the gap).
type Batch struct {
	Time   time.Time // when the first datagram of the batch was read
	Msgs   []Message
	Events []Event

	arena  []byte
	frames [][]byte
}

func (b *Batch) reset() {
	b.Time = time.Time{}
	b.Msgs, b.Events, b.arena, b.frames = b.Msgs[:0], b.Events[:0], b.arena[:0], b.frames[:0]
}

func (b *Batch) empty() bool { return len(b.Msgs) == 0 && len(b.Events) == 0 }

// SubStats are a Sub's counters.
type SubStats struct {
	Messages  uint64 // delivered
	Bytes     uint64 // their frame bytes
	Filtered  uint64 // messages dropped by the subscriptions
	Discarded uint64 // messages cut by loss, dropped whole
	Malformed uint64 // malformed APDUs or frames (the stream resynchronised)
	TooLarge  uint64 // ... of which messages over MaxMessageSize
	Undecoded uint64 // APDUs skipped while waiting for a message boundary
	Losses    uint64 // Loss events
	LostSQNs  uint64 // sequence numbers in them
	// UnfollowedLosses counts losses of sources that never delivered a
	// message: not reported, not the line's.
	UnfollowedLosses uint64
	Receiver         transport.ReceiverStats
}

// Sub is a ZeroMQ SUB socket on a PGM endpoint: it receives the messages of
// every source sending to the endpoint's group, decoding each source's
// stream with its own apdu.Decoder, and keeps those whose first frame starts
// with a subscribed prefix, as libzmq's SUB filters them (locally: PGM has
// no way to tell the publisher). With no subscription it keeps nothing.
//
// The socket's goroutine decodes and copies messages into batches; Next
// hands them to the application. A bounded number of batches waits in
// between: when the application falls behind, the goroutine stops taking
// data out of the PGM receive window, and the window's overrun reports the
// loss exactly (a Loss event) rather than memory growing.
type Sub struct {
	rcv        *transport.Receiver
	maxMsg     int
	batchBytes int

	subs atomic.Pointer[[][]byte]
	smu  sync.Mutex // serialises Subscribe and Unsubscribe

	ready   chan *Batch
	free    chan *Batch
	behind  atomic.Bool // the consumer side could not hand a batch over, or had none free
	closed  chan struct{}
	wake    chan struct{} // Wake's signal to Next
	once    sync.Once
	stopCtx func() bool // unregisters the context's AfterFunc
	held    *Batch      // returned by the last Next, recycled by the next
	none    Batch       // the empty batch of a deadline
	timer   *time.Timer

	// The socket goroutine's state.
	cur     *Batch
	sources map[wire.TSI]*stream
	mu      sync.Mutex // guards st for Stats
	st      SubStats
}

var _ transport.Consumer = (*subConsumer)(nil)

type subConsumer Sub

// stream is one PGM source's message stream.
type stream struct {
	dec      apdu.Decoder
	src      netip.Addr
	followed bool  // it delivered a message: PeerUp was reported
	early    Event // its losses before it was followed, added up (Count 0: none)
	earlyN   int   // how many
}

// NewSub opens a SUB socket on endpoint (epgm:// or pgm://) and starts
// receiving. It stops when ctx is done or Close is called.
func NewSub(ctx context.Context, endpoint string, cfg SubConfig) (*Sub, error) {
	ep, err := transport.ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	return NewSubEndpoint(ctx, ep, cfg)
}

// NewSubEndpoint is NewSub for a parsed endpoint.
func NewSubEndpoint(ctx context.Context, ep transport.Endpoint, cfg SubConfig) (*Sub, error) {
	q := cfg.Queue
	if q <= 0 {
		q = DefaultQueue
	}
	s := &Sub{maxMsg: cfg.MaxMessageSize, batchBytes: cfg.BatchBytes,
		ready: make(chan *Batch, q), free: make(chan *Batch, q+1), closed: make(chan struct{}),
		wake: make(chan struct{}, 1), sources: make(map[wire.TSI]*stream), timer: time.NewTimer(time.Hour)}
	s.timer.Stop()
	if s.maxMsg <= 0 {
		s.maxMsg = apdu.DefaultMaxMessageSize
	}
	if s.batchBytes <= 0 {
		s.batchBytes = DefaultBatchBytes
	}
	s.subs.Store(&[][]byte{})
	for range q + 1 {
		s.free <- &Batch{}
	}
	rcv, err := transport.NewReceiver(ctx, ep, cfg.Receiver, (*subConsumer)(s))
	if err != nil {
		return nil, err
	}
	s.rcv = rcv
	s.stopCtx = context.AfterFunc(ctx, s.close)
	return s, nil
}

// Endpoint returns the endpoint.
func (s *Sub) Endpoint() transport.Endpoint { return s.rcv.Endpoint() }

// Subscribe keeps the messages whose first frame starts with prefix (the
// empty prefix: all of them).
func (s *Sub) Subscribe(prefix []byte) {
	s.smu.Lock()
	defer s.smu.Unlock()
	old := *s.subs.Load()
	subs := append(append(make([][]byte, 0, len(old)+1), old...), bytes.Clone(prefix))
	s.subs.Store(&subs)
}

// Unsubscribe removes one subscription to prefix, as ZMQ_UNSUBSCRIBE does.
func (s *Sub) Unsubscribe(prefix []byte) {
	s.smu.Lock()
	defer s.smu.Unlock()
	old := *s.subs.Load()
	subs := make([][]byte, 0, len(old))
	removed := false
	for _, p := range old {
		if !removed && bytes.Equal(p, prefix) {
			removed = true
			continue
		}
		subs = append(subs, p)
	}
	s.subs.Store(&subs)
}

// Next returns the next batch, waiting until deadline (zero: no deadline),
// when it returns an empty batch. The batch and the bytes it refers to stay
// valid until the next call. It returns ErrClosed once the Sub is closed.
// Next is for one goroutine at a time.
func (s *Sub) Next(deadline time.Time) (*Batch, error) {
	if s.held != nil {
		s.held.reset()
		s.free <- s.held // never blocks: there are as many places as batches
		s.held = nil
		if s.behind.Swap(false) {
			// The socket's goroutine found no room for a batch, or could
			// not hand one over: it may be waiting in a read with data in
			// hand. Now there is room.
			s.rcv.Wake()
		}
	}
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		s.timer.Reset(time.Until(deadline))
		defer s.timer.Stop()
		timeout = s.timer.C
	}
	select {
	case b := <-s.ready:
		s.held = b
		return b, nil
	case <-s.closed:
		return nil, ErrClosed
	case <-s.wake:
		s.none.reset()
		return &s.none, nil
	case <-timeout:
		select {
		case b := <-s.ready: // it came as the deadline passed
			s.held = b
			return b, nil
		default:
			s.none.reset()
			return &s.none, nil
		}
	}
}

// Wake makes a Next in progress return an empty batch at once; if none is,
// the next call may. It may be called from any goroutine.
func (s *Sub) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Queued returns how many batches wait for Next now, and how many may
// (SubConfig.Queue): a queue that stays full is an application that does
// not keep up, and the PGM window behind it overruns next.
func (s *Sub) Queued() (batches, capacity int) { return len(s.ready), cap(s.ready) }

// Stats returns the counters.
func (s *Sub) Stats() SubStats {
	s.mu.Lock()
	st := s.st
	s.mu.Unlock()
	st.Receiver = s.rcv.Stats()
	return st
}

// Close stops receiving; a blocked Next returns ErrClosed.
func (s *Sub) Close() error {
	s.close()
	s.stopCtx()
	return nil
}

// close stops the receiver; a blocked Next returns ErrClosed.
func (s *Sub) close() {
	s.once.Do(func() {
		s.rcv.Close()
		close(s.closed)
	})
}

// The transport.Consumer side, run by the Receiver's goroutine.

// Room reports whether a batch can take more messages.
func (c *subConsumer) Room() bool {
	s := (*Sub)(c)
	if s.cur != nil && len(s.cur.arena) < s.batchBytes {
		return true
	}
	if s.cur != nil && !s.cur.empty() {
		s.behind.Store(true) // before trying: Next's check comes after its take
		select {
		case s.ready <- s.cur:
			s.cur = nil
		default:
			return false
		}
	}
	if s.cur == nil {
		s.behind.Store(true)
		select {
		case s.cur = <-s.free:
		default:
			return false
		}
	}
	return true
}

// Consume handles one receiver event: data is decoded and its messages
// filtered into the current batch.
func (c *subConsumer) Consume(now time.Time, ev *receiver.Event) {
	s := (*Sub)(c)
	b := s.cur // Room made sure there is one
	switch ev.Kind {
	case receiver.EventPeerNew:
		s.sources[ev.TSI] = &stream{dec: apdu.Decoder{MaxMessageSize: s.maxMsg}, src: ev.Source}
	case receiver.EventPeerExpired:
		if st := s.sources[ev.TSI]; st != nil {
			s.reset(&st.dec)
			delete(s.sources, ev.TSI)
			if st.followed {
				s.event(b, now, Event{Kind: PeerDown, TSI: ev.TSI})
			} else if st.earlyN > 0 {
				s.mu.Lock()
				s.st.UnfollowedLosses += uint64(st.earlyN)
				s.mu.Unlock()
			}
		}
	case receiver.EventLoss:
		st := s.sources[ev.TSI]
		if st == nil {
			return
		}
		e := Event{Kind: Loss, TSI: ev.TSI, SQN: ev.SQN, Count: ev.Count}
		e.Discarded = s.reset(&st.dec)
		if !st.followed {
			// Held until it delivers a message, if it ever does.
			if st.earlyN == 0 {
				st.early = e
			} else {
				st.early.Count += min(e.Count, math.MaxUint32-st.early.Count) // saturates
				st.early.Discarded += e.Discarded
			}
			st.earlyN++
			return
		}
		s.mu.Lock()
		s.st.Losses++
		s.st.LostSQNs += uint64(ev.Count)
		s.mu.Unlock()
		s.event(b, now, e)
	case receiver.EventData:
		st := s.sources[ev.TSI]
		if st == nil { // cannot happen: PeerNew comes first
			st = &stream{dec: apdu.Decoder{MaxMessageSize: s.maxMsg}, src: ev.Source}
			s.sources[ev.TSI] = st
		}
		d := &st.dec
		before := d.Stats()
		err := d.Feed(ev.Payload)
		after := d.Stats()
		s.mu.Lock()
		if err != nil {
			s.st.Malformed++
			if errors.Is(err, apdu.ErrTooLarge) {
				s.st.TooLarge++
			}
		}
		s.st.Discarded += after.Discarded - before.Discarded
		s.st.Undecoded += after.Skipped - before.Skipped
		s.mu.Unlock()
		subs := *s.subs.Load()
		var delivered, filtered, nbytes uint64
		for m := d.Next(); m != nil; m = d.Next() {
			if !st.followed {
				st.followed = true
				s.event(b, now, Event{Kind: PeerUp, TSI: ev.TSI, Source: st.src})
				if st.earlyN > 0 {
					s.mu.Lock()
					s.st.Losses++
					s.st.LostSQNs += uint64(st.early.Count)
					s.mu.Unlock()
					s.event(b, now, st.early)
				}
			}
			if !match(subs, m[0]) {
				filtered++
				continue
			}
			if b.Time.IsZero() {
				b.Time = now
			}
			first := len(b.frames)
			for _, f := range m {
				off := len(b.arena)
				b.arena = append(b.arena, f...)
				b.frames = append(b.frames, b.arena[off:len(b.arena):len(b.arena)])
				nbytes += uint64(len(f))
			}
			b.Msgs = append(b.Msgs, Message{Frames: b.frames[first:len(b.frames):len(b.frames)], TSI: ev.TSI})
			delivered++
		}
		s.mu.Lock()
		s.st.Messages += delivered
		s.st.Filtered += filtered
		s.st.Bytes += nbytes
		s.mu.Unlock()
	}
}

// reset resets a decoder after a loss and returns how many messages it cut.
func (s *Sub) reset(d *apdu.Decoder) uint64 {
	before := d.Stats().Discarded
	d.Reset()
	disc := d.Stats().Discarded - before
	s.mu.Lock()
	s.st.Discarded += disc
	s.mu.Unlock()
	return disc
}

func (s *Sub) event(b *Batch, now time.Time, e Event) {
	if b.Time.IsZero() {
		b.Time = now
	}
	b.Events = append(b.Events, e)
}

// Flush hands the current batch over if Next can take it.
func (c *subConsumer) Flush(time.Time) {
	s := (*Sub)(c)
	if s.cur == nil || s.cur.empty() {
		return
	}
	if len(s.ready) == cap(s.ready) {
		// Next is behind: this batch waits here, and Next must wake the
		// socket's goroutine to hand it over (no more datagrams may come).
		s.behind.Store(true)
	}
	select {
	case s.ready <- s.cur:
		s.cur = nil
	default: // Next is behind: keep filling this one
	}
}

// match reports whether topic starts with one of the prefixes.
func match(prefixes [][]byte, topic []byte) bool {
	for _, p := range prefixes {
		if bytes.HasPrefix(topic, p) {
			return true
		}
	}
	return false
}
