// Package publisher publishes ticks as a tickcast feed: per-topic sequence
// numbers, batching, heartbeats and session identity, over any number of
// sinks (transport endpoints, package port; package endpoint opens them).
// Package tickcast opens a publisher in one call; this package has every
// option.
//
// A publisher's life: New with its sinks (WithSink; the publisher owns them
// from then on), WaitSubscribers if what is published first must not be
// missed by subscribers that are still connecting, Publish (or a Topic
// handle's Publish and PublishBatch), Stats to watch it, and Close, which
// sends what is queued, a heartbeat on every topic, and the end of the
// session.
//
// Publish may be called from any goroutine and never blocks on the network:
// ticks go into a per-topic queue, and one sender goroutine encodes whatever
// has accumulated into one message per topic ("smart batching": when the
// feed is idle a tick leaves at once; under load many ticks share a message).
// When the queue is full, Publish returns ErrQueueFull and the tick takes no
// sequence number; a sink that cannot keep up with one of its subscribers
// drops and counts for that subscriber only, which that subscriber learns as
// gaps.
package publisher

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/schema"
)

// Errors returned by Publish and Close.
var (
	ErrClosed    = errors.New("publisher: closed")
	ErrQueueFull = errors.New("publisher: queue full")
	// ErrReservedTopic: topics starting with a zero byte are the feed's
	// own (schema.ControlTopic carries heartbeats and session ends).
	ErrReservedTopic = errors.New("publisher: topics starting with a zero byte are reserved")
)

// Defaults of the options.
const (
	DefaultMaxBatch   = 128
	DefaultHeartbeat  = time.Second
	DefaultQueueLimit = 1 << 20
)

// Option configures a Publisher.
type Option func(*config) error

type config struct {
	sinks      []Sink
	maxBatch   int
	flushDelay time.Duration
	heartbeat  time.Duration
	queueLimit int
	session    uint64
	logger     *slog.Logger
	now        func() time.Time
}

// WithSink adds sinks: the feed goes to every one of them. The publisher
// owns them from then on: it closes them on Close, and New closes them if it
// fails.
func WithSink(s ...Sink) Option {
	return func(c *config) error { c.sinks = append(c.sinks, s...); return nil }
}

// WithMaxBatch sets the most ticks one message carries (default 128).
func WithMaxBatch(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 1<<16 {
			return fmt.Errorf("publisher: max batch %d out of range [1, 65536]", n)
		}
		c.maxBatch = n
		return nil
	}
}

// WithFlushDelay lets a batch wait up to d for more ticks before it is sent,
// unless it fills first. The default, 0, sends as soon as the sender is free:
// no delay is ever added to a tick that arrives when the feed is idle.
func WithFlushDelay(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("publisher: negative flush delay %v", d)
		}
		c.flushDelay = d
		return nil
	}
}

// WithHeartbeat sets the heartbeat interval (default 1s): the control
// heartbeat goes out every interval, and a topic idle for one interval after
// data gets a topic heartbeat with its last sequence number.
func WithHeartbeat(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond {
			return fmt.Errorf("publisher: heartbeat interval %v below 1ms", d)
		}
		c.heartbeat = d
		return nil
	}
}

// WithQueueLimit bounds the ticks waiting for the sender (default 1<<20).
// Beyond it Publish returns ErrQueueFull instead of growing memory.
func WithQueueLimit(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("publisher: queue limit %d below 1", n)
		}
		c.queueLimit = n
		return nil
	}
}

// WithSession sets the session id instead of a random one. Two publishers
// with the same session id are taken by subscribers as lines of one feed
// (A/B redundancy), so only set it to publish the same feed twice.
func WithSession(id uint64) Option {
	return func(c *config) error {
		if id == 0 {
			return errors.New("publisher: session id 0 is reserved")
		}
		c.session = id
		return nil
	}
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error { c.logger = l; return nil }
}

// Publisher publishes a feed. Create it with New.
type Publisher struct {
	cfg     config
	session uint64

	mu      sync.Mutex // guards the producer side, below
	topics  map[string]*Topic
	dirty   []*Topic // topics with queued ticks, in order of their first one
	queued  int
	full    bool      // some topic has a full batch queued
	firstAt time.Time // when the oldest queued tick was queued (flush delay only)
	closed  bool
	stats   Stats // producer-side counters (Published, Rejected)

	wake    chan struct{}
	closing chan struct{}
	done    chan struct{}

	// The sender goroutine's own state.
	enc        *schema.Encoder
	flushing   []*Topic
	hb         *heartbeats
	streamSeq  uint64
	sendTime   int64        // the current cycle's clock, ns
	control    []byte       // schema.ControlTopic
	sendTopic  func(*Topic) // sendTopicHeartbeat, bound once
	messages   atomic.Uint64
	bytes      atomic.Uint64
	heartbeats atomic.Uint64
	sinkErrors atomic.Uint64
	sinkState  []sinkState // per sink, as cfg.sinks
}

// sinkState is what the publisher knows of one sink's failures.
type sinkState struct {
	errors atomic.Uint64
	last   atomic.Pointer[error]
}

// Topic is a handle on one topic: publishing through it skips the map lookup
// of Publisher.Publish.
type Topic struct {
	p        *Publisher
	name     []byte
	reserved bool // the name starts with a zero byte: Publish refuses it

	seq     uint64        // last sequence number assigned (under p.mu)
	pending []schema.Tick // queued ticks (under p.mu)
	dirty   bool          // in p.dirty (under p.mu)

	out      []schema.Tick // ticks being sent (sender only)
	lastSent uint64        // sequence number of the last tick sent (sender only)
	hb       topicHB       // heartbeat schedule (sender only)
	// The topic's previous message (sender only): its stream sequence and
	// the topic's sequence before it, sent with the next message so that a
	// subscriber that lost it knows (schema.Header.PrevStreamSeq).
	prevStream, prevTopic uint64
}

// New starts a publisher with a new session.
func New(opts ...Option) (*Publisher, error) {
	cfg := config{
		maxBatch:   DefaultMaxBatch,
		heartbeat:  DefaultHeartbeat,
		queueLimit: DefaultQueueLimit,
		logger:     slog.Default(),
		now:        time.Now,
	}
	// Every option is applied, even after one fails, so that every sink
	// given is known: the publisher owns them, and a failed New closes them.
	var errs []error
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		for _, s := range cfg.sinks {
			s.Close()
		}
		return nil, err
	}
	p := &Publisher{
		cfg:     cfg,
		session: cfg.session,
		topics:  make(map[string]*Topic),
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		enc:     schema.NewEncoder(64 + cfg.maxBatch*schema.TickSize),
		hb:      newHeartbeats(cfg.heartbeat, 30*cfg.heartbeat, cfg.now()),
	}
	p.sendTopic = p.sendTopicHeartbeat
	p.sinkState = make([]sinkState, len(cfg.sinks))
	p.control = []byte(schema.ControlTopic)
	for p.session == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:]) // never fails on Linux
		p.session = binary.LittleEndian.Uint64(b[:])
	}
	cfg.logger.Debug("publisher started", "session", fmt.Sprintf("%016x", p.session), "sinks", len(cfg.sinks))
	go p.run()
	return p, nil
}

// Session returns the publisher's session id.
func (p *Publisher) Session() uint64 { return p.session }

// Topic returns the handle of a topic, creating it on first use.
func (p *Publisher) Topic(name string) *Topic {
	p.mu.Lock()
	t := p.topicLocked(name)
	p.mu.Unlock()
	return t
}

func (p *Publisher) topicLocked(name string) *Topic {
	t := p.topics[name]
	if t == nil {
		t = &Topic{p: p, name: []byte(name), hb: topicHB{index: -1}, reserved: strings.HasPrefix(name, "\x00")}
		p.topics[name] = t
	}
	return t
}

// Publish queues tick on topic and assigns its sequence number (the Seq the
// caller set is ignored). It never blocks on the network; it fails with
// ErrQueueFull when the queue limit is reached (the tick takes no sequence
// number: subscribers see no gap), ErrReservedTopic for a topic starting
// with a zero byte, and ErrClosed after Close.
func (p *Publisher) Publish(topic string, tick schema.Tick) error {
	p.mu.Lock()
	err := p.enqueueLocked(p.topicLocked(topic), tick)
	p.mu.Unlock()
	return err
}

// Name returns the topic's name.
func (t *Topic) Name() string { return string(t.name) }

// Publish queues tick on the topic, as Publisher.Publish does.
func (t *Topic) Publish(tick schema.Tick) error {
	p := t.p
	p.mu.Lock()
	err := p.enqueueLocked(t, tick)
	p.mu.Unlock()
	return err
}

// PublishBatch queues ticks on the topic, in order, under one lock. It
// queues as many as fit under the queue limit, the first n, and returns n;
// if that is not all of them it also returns ErrQueueFull. The caller
// decides what to do with ticks[n:]: offer them again once the sender has
// drained the queue (a producer that can wait), or drop them (a producer
// that must keep time; count them). Refused ticks take no sequence number,
// so subscribers see no gap for them.
func (t *Topic) PublishBatch(ticks []schema.Tick) (int, error) {
	p := t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	n, err := p.admitLocked(t, len(ticks))
	for _, tick := range ticks[:n] {
		p.appendLocked(t, tick)
	}
	return n, err
}

func (p *Publisher) enqueueLocked(t *Topic, tick schema.Tick) error {
	if n, err := p.admitLocked(t, 1); n == 0 {
		return err
	}
	p.appendLocked(t, tick)
	return nil
}

// admitLocked returns how many of n ticks on t may be queued, and why not
// all of them.
func (p *Publisher) admitLocked(t *Topic, n int) (int, error) {
	if p.closed {
		return 0, ErrClosed
	}
	if t.reserved {
		return 0, fmt.Errorf("%w: %q", ErrReservedTopic, t.name)
	}
	if room := p.cfg.queueLimit - p.queued; n > room {
		p.stats.Rejected += uint64(n - room)
		return room, ErrQueueFull
	}
	return n, nil
}

func (p *Publisher) appendLocked(t *Topic, tick schema.Tick) {
	t.seq++
	tick.Seq = t.seq
	t.pending = append(t.pending, tick)
	if !t.dirty {
		t.dirty = true
		p.dirty = append(p.dirty, t)
	}
	p.queued++
	p.stats.Published++
	wake := p.queued == 1 // the sender drains until empty: one wake per busy period
	if p.queued == 1 && p.cfg.flushDelay > 0 {
		p.firstAt = p.cfg.now()
	}
	if len(t.pending) == p.cfg.maxBatch && !p.full {
		p.full = true
		wake = true // cut a waiting flush delay short
	}
	if wake {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// run is the sender goroutine.
func (p *Publisher) run() {
	defer close(p.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		closing := false
		select {
		case <-p.wake:
		case <-timer.C:
		case <-p.closing:
			closing = true
		}
		if !closing && p.cfg.flushDelay > 0 {
			p.linger(timer)
		}
		for p.cycle() {
		}
		if closing {
			p.finish()
			return
		}
		timer.Reset(p.hb.next().Sub(p.cfg.now()))
	}
}

// linger waits, with the flush delay, for a batch to fill.
func (p *Publisher) linger(timer *time.Timer) {
	for {
		p.mu.Lock()
		waitUntil, ready := p.firstAt.Add(p.cfg.flushDelay), p.queued == 0 || p.full
		p.mu.Unlock()
		wait := waitUntil.Sub(p.cfg.now())
		if ready || wait <= 0 {
			return
		}
		timer.Reset(wait)
		select {
		case <-p.wake:
		case <-timer.C:
		case <-p.closing:
			return
		}
	}
}

// cycle takes everything queued, sends it, sends the heartbeats that are due
// and flushes the sinks. It reports whether it found anything queued.
func (p *Publisher) cycle() bool {
	p.mu.Lock()
	p.flushing, p.dirty = p.dirty, p.flushing[:0]
	for _, t := range p.flushing {
		t.pending, t.out = t.out[:0], t.pending
		t.dirty = false
	}
	p.queued, p.full = 0, false
	p.mu.Unlock()

	// One clock read per cycle: every message of the cycle carries it (a
	// cycle takes microseconds; a clock read per message cost more than the
	// encoding).
	now := p.cfg.now()
	p.sendTime = now.UnixNano()
	for _, t := range p.flushing {
		for out := t.out; len(out) > 0; {
			n := min(len(out), p.cfg.maxBatch)
			p.send(t.name, schema.Header{Type: schema.Batch, PrevStreamSeq: t.prevStream, PrevTopicSeq: t.prevTopic}, out[:n], false)
			t.prevStream, t.prevTopic = p.streamSeq, out[0].Seq-1
			out = out[n:]
		}
		t.lastSent = t.out[len(t.out)-1].Seq
		p.hb.data(t, now)
	}
	if p.hb.controlDue(now) {
		p.sendControl(schema.Heartbeat)
	}
	p.hb.dueTopics(now, p.sendTopic)
	p.flushSinks()
	return len(p.flushing) > 0
}

// closeRounds is how many times Close sends its last words, closeGap apart:
// first the final topic heartbeats (what tells a subscriber that a topic's
// last ticks were lost), then the end of the session. On a lossy line one
// copy may be lost as any packet may, and the heartbeats must all come
// before the first end: a subscriber that has the end stops listening.
// Repeats are idempotent for a subscriber.
const (
	closeRounds = 3
	closeGap    = 5 * time.Millisecond
)

// finish sends what Close owes subscribers: a topic heartbeat on every topic
// whose last data was not followed by one, closeRounds times, then the end
// of the session, closeRounds times.
func (p *Publisher) finish() {
	var owed []*Topic
	for _, t := range p.hb.topics {
		if t.hb.owed {
			owed = append(owed, t)
		}
	}
	first := 0
	if len(owed) == 0 {
		first = closeRounds // no heartbeat owed: only the end
	}
	for round := first; round < 2*closeRounds; round++ {
		if round > first {
			time.Sleep(closeGap)
		}
		p.sendTime = p.cfg.now().UnixNano()
		if round < closeRounds {
			for _, t := range owed {
				p.sendTopicHeartbeat(t)
			}
		} else {
			p.sendControl(schema.EndOfSession)
		}
		p.flushSinks()
	}
}

func (p *Publisher) sendControl(typ schema.MessageType) {
	p.heartbeats.Add(1)
	p.send(p.control, schema.Header{Type: typ, Heartbeat: int64(p.cfg.heartbeat)}, nil, true)
}

func (p *Publisher) sendTopicHeartbeat(t *Topic) {
	p.heartbeats.Add(1)
	p.send(t.name, schema.Header{Type: schema.TopicHeartbeat, TopicSeq: t.lastSent,
		PrevStreamSeq: t.prevStream, PrevTopicSeq: t.prevTopic}, nil, true)
	t.prevStream, t.prevTopic = p.streamSeq, t.lastSent
}

// send encodes one message and hands it to every sink.
func (p *Publisher) send(topic []byte, h schema.Header, ticks []schema.Tick, control bool) {
	p.streamSeq++
	h.Session, h.StreamSeq, h.SendTime = p.session, p.streamSeq, p.sendTime
	m := Message{Topic: topic, Body: p.enc.Encode(h, ticks), Control: control}
	p.messages.Add(1)
	p.bytes.Add(uint64(len(m.Topic) + len(m.Body)))
	for i, s := range p.cfg.sinks {
		if err := s.Send(m); err != nil {
			p.sinkFailed(i, "send", err)
		}
	}
}

func (p *Publisher) flushSinks() {
	for i, s := range p.cfg.sinks {
		if err := s.Flush(); err != nil {
			p.sinkFailed(i, "flush", err)
		}
	}
}

// sinkFailed counts an error of sink i, keeps it as the sink's last, and
// logs it if it is the sink's first: a sink that fails keeps failing, and
// the count and the last error are in Stats.
func (p *Publisher) sinkFailed(i int, op string, err error) {
	p.sinkErrors.Add(1)
	st := &p.sinkState[i]
	st.last.Store(&err)
	if st.errors.Add(1) == 1 {
		p.cfg.logger.Warn("publisher: sink failed; further errors are counted, not logged",
			"endpoint", p.cfg.sinks[i].Stats().Endpoint, "op", op, "err", err, "session", fmt.Sprintf("%016x", p.session))
	}
}

// Close sends what is queued, a topic heartbeat on every topic that had data
// since its last one, and the end of the session; then it closes the sinks.
func (p *Publisher) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.closed = true
	p.mu.Unlock()
	close(p.closing)
	<-p.done
	var errs []error
	for _, s := range p.cfg.sinks {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	p.cfg.logger.Debug("publisher closed", "session", fmt.Sprintf("%016x", p.session))
	return errors.Join(errs...)
}

// ErrCannotCount is returned by WaitSubscribers when no sink of the
// publisher can know its subscribers: multicast (epgm://, pgm://) sinks
// cannot.
var ErrCannotCount = errors.New("publisher: no sink can count its subscribers (multicast cannot)")

// WaitSubscribers waits until every sink that can know its subscribers
// (tcp://, ipc://) has at least n that have subscribed to something, so
// that ticks published from then on reach them: the answer to ZeroMQ's
// slow-joiner problem (a subscriber that has connected but whose
// subscription has not reached the publisher yet misses what is sent
// meanwhile). It returns ctx's error if ctx ends first, ErrClosed if the
// publisher closes, and ErrCannotCount if no sink can count (multicast
// only).
//
// A multicast publisher cannot know its receivers. Start the subscribers
// first, or publish into the void for a moment (tickcast pub --delay):
// subscribers join each topic at the first message they hear, and topic
// heartbeats (WithHeartbeat) tell a late subscriber where each quiet topic
// stands, so it reports what it missed from then on exactly.
func (p *Publisher) WaitSubscribers(ctx context.Context, n int) error {
	counted := false
	for _, s := range p.cfg.sinks {
		w, ok := s.(port.SubscriberWaiter)
		if !ok {
			continue
		}
		counted = true
		if err := w.WaitSubscribers(ctx, n); err != nil {
			if p.isClosed() {
				return ErrClosed
			}
			return fmt.Errorf("publisher: waiting for %d subscribers on %s: %w", n, s.Stats().Endpoint, err)
		}
	}
	if !counted {
		return ErrCannotCount
	}
	return nil
}

func (p *Publisher) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Stats are a publisher's counters.
type Stats struct {
	Session    uint64
	Published  uint64 // ticks accepted by Publish
	Rejected   uint64 // ticks refused with ErrQueueFull (a tick offered again after a refusal counts again)
	Messages   uint64 // messages sent, heartbeats included
	Bytes      uint64 // bytes of messages sent (topic + body), counted once for all sinks
	Heartbeats uint64 // control and topic heartbeats sent
	SinkErrors uint64 // errors returned by sinks, all of them
	Sinks      []SinkReport
}

// SinkReport is one sink's counters, as the sink reports them, and its
// failures, as the publisher saw them.
type SinkReport struct {
	SinkStats
	Errors    uint64 // errors the sink's Send and Flush returned (the first is logged)
	LastError error  // the last of them; nil if none
	// Transport holds the sink's own measurements, if it has any
	// (port.Instrumented: a PGM source's NAKs and repairs, a TCP
	// publisher's queue per subscriber).
	Transport []port.Metric
}

// Stats returns the publisher's counters.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	s := p.stats
	p.mu.Unlock()
	s.Session = p.session
	s.Messages = p.messages.Load()
	s.Bytes = p.bytes.Load()
	s.Heartbeats = p.heartbeats.Load()
	s.SinkErrors = p.sinkErrors.Load()
	for i, k := range p.cfg.sinks {
		r := SinkReport{SinkStats: k.Stats(), Errors: p.sinkState[i].errors.Load()}
		if last := p.sinkState[i].last.Load(); last != nil {
			r.LastError = *last
		}
		if in, ok := k.(port.Instrumented); ok {
			r.Transport = in.AppendMetrics(nil)
		}
		s.Sinks = append(s.Sinks, r)
	}
	return s
}
