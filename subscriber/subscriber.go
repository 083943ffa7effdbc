// Package subscriber receives tickcast feeds: it reads one or more lines
// (sources, package port; package endpoint opens them), filters topics by
// prefix, and delivers ticks in sequence order with exact gap reports,
// session changes and stale-line events. Package tickcast opens a
// subscriber in one call; this package has every option.
//
// A subscriber's life: New with its sources (WithSource; the subscriber owns
// them from then on) and topics (WithTopics), then Next in a loop: each call
// returns one Event (EventTicks, EventGap, EventSessionStart, ...). The
// context given to New ends the subscriber; the one given to Next bounds
// that call. Close ends it too.
//
// Lines that carry the same session are one feed (A/B lines): each tick is
// delivered once, from whichever line brings it first, and a hole in one
// line is reported as a gap only if no other line fills it within the
// arbitration window (WithArbitration). What each line lost is counted in
// Stats all the same.
//
// A Subscriber is read by one goroutine calling Next. Everything else
// (Subscribe, Unsubscribe, Stats, Close) may be called from any goroutine.
package subscriber

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/topic"
)

// ErrClosed is returned by Next after Close, or once the context given to New
// is done (the error then also wraps the context's error).
var ErrClosed = errors.New("subscriber: closed")

// Option configures a Subscriber.
type Option func(*config) error

type config struct {
	sources     []Source
	requesters  []port.Requester
	recTimeout  time.Duration
	snapshot    bool
	topics      []string
	staleAfter  time.Duration
	arbitration time.Duration
	maxTopics   int
	topicIdle   time.Duration
	logger      *slog.Logger
}

// WithSource adds lines to read. The subscriber owns them from then on: it
// closes them on Close, and New closes them if it fails. Lines that carry
// the same session are one feed.
func WithSource(s ...Source) Option {
	return func(c *config) error { c.sources = append(c.sources, s...); return nil }
}

// WithRecovery gives the subscriber recovery services (package recovery;
// endpoint.Requester opens a connection to one): a hole that no line fills
// within the arbitration window is asked for, the topic's later ticks wait
// for the answer (other topics flow on), and the ticks recovered are
// delivered in order, announced by EventRecovered. What the service cannot
// give, or does not give within WithRecoveryTimeout, is reported as an
// EventGap whose Detail says why.
//
// Requesters with the same Endpoint are connections to one service. Each
// carries one request at a time, so give several per service to have
// several requests in flight at once (package tickcast opens
// RecoveryConnections per service). The services are asked in the order
// their endpoints first come; a request that fails on the first is tried
// once on the next, on one of its connections. The subscriber owns the
// requesters from then on.
func WithRecovery(r ...port.Requester) Option {
	return func(c *config) error { c.requesters = append(c.requesters, r...); return nil }
}

// WithSnapshot makes a subscriber with WithRecovery start each session it
// joins from a snapshot: the last value of every subscribed topic
// (EventSnapshot), then the live ticks after it, with no gap and no
// duplicate. Until the snapshot comes (or its request fails, as a
// recovery request does: see WithRecoveryTimeout), the ticks of topics not
// started are held.
func WithSnapshot() Option {
	return func(c *config) error { c.snapshot = true; return nil }
}

// WithRecoveryTimeout sets how long a recovery request may go unanswered
// (default 500ms), from when a connection sends it, before it fails: it is
// tried on the next service, or its range is reported as a gap. A request
// waits for a free connection while its service answers others; once the
// service has answered nothing for 4 timeouts, or after 20 timeouts
// whatever it does, the request fails unsent the same way.
func WithRecoveryTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("subscriber: recovery timeout %v must be positive", d)
		}
		c.recTimeout = d
		return nil
	}
}

// WithTopics subscribes to topic prefixes, ZeroMQ style: a topic is
// delivered if it starts with any of them, and "" matches everything. Without
// this option the subscriber takes every topic.
func WithTopics(prefixes ...string) Option {
	return func(c *config) error { c.topics = append(c.topics, prefixes...); return nil }
}

// WithStaleAfter sets how long a line may be silent (no data, no heartbeat)
// before it is reported stale. The default follows the publisher: three of
// its heartbeat intervals (3s until one is heard).
func WithStaleAfter(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("subscriber: stale timeout %v must be positive", d)
		}
		c.staleAfter = d
		return nil
	}
}

// WithArbitration sets how long ticks that arrived on one line after a hole
// in it may wait for another line of the same feed to fill the hole, before
// the hole is reported as a gap (default 50ms). It adds no delay when no
// line loses anything, or with a single line.
func WithArbitration(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("subscriber: negative arbitration window %v", d)
		}
		c.arbitration = d
		return nil
	}
}

// WithMaxTopics bounds the topics followed per session (default 100,000;
// each costs about a kilobyte): messages on topics beyond it are dropped and
// counted, and EventTopicLimit reports it.
func WithMaxTopics(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("subscriber: max topics %d below 1", n)
		}
		c.maxTopics = n
		return nil
	}
}

// WithTopicIdle sets how long a topic may go unheard before its state is
// forgotten (default 10 minutes); heard again, it is joined afresh.
func WithTopicIdle(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("subscriber: topic idle time %v must be positive", d)
		}
		c.topicIdle = d
		return nil
	}
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error { c.logger = l; return nil }
}

// Subscriber reads a feed. Create it with New.
type Subscriber struct {
	cfg   config
	feed  *feed
	lines []*line // lines[i] reads cfg.sources[i]

	// The batch being handled.
	cur     *Batch
	curLine *line
	next    int // next message of cur

	// With several sources, a goroutine per source hands batches over.
	in   chan delivery
	acks []chan struct{}
	ack  int // source whose batch must be acknowledged, -1 none
	live int // sources not finished
	wait *time.Timer

	mu       sync.Mutex // guards below
	changes  []change   // subscriptions not yet applied to feed.topics
	closeErr error
	// The context of the last Next that could be cancelled, and the
	// unregistering of its AfterFunc, which wakes the sources.
	watched   context.Context
	stopWatch func() bool

	changed   atomic.Bool // changes is not empty
	evlog     *eventLog
	closed    atomic.Bool
	done      chan struct{}
	closeOnce sync.Once
	pumps     sync.WaitGroup // the pump goroutines: Close waits for them
	// Recovery: requests go to the queue of their service, which its
	// connections' workers read; results come back.
	recServices [][]port.Requester // the requesters, by service
	recQueues   []chan recoveryRequest
	recReqs     []recoveryRequest
	recMu       sync.Mutex
	recOut      []recoveryResult
	recReady    atomic.Bool
	recSignal   chan struct{}
	recCtx      context.Context // ends requests in progress at Close
	recCancel   context.CancelFunc

	ctx     context.Context // New's: when it is done, so is the subscriber
	stopCtx func() bool     // unregisters the context's AfterFunc
}

// change is a Subscribe or Unsubscribe not yet applied to the feed.
type change struct {
	prefix string
	add    bool
}

// recoveryResult is the news that a recovery request was sent (sent set),
// or its answer, or why there is none.
type recoveryResult struct {
	id     uint64
	sent   time.Time
	frames [][]byte
	err    error
}

type delivery struct {
	src   int
	batch *Batch
	err   error
}

// New starts a subscriber on its sources. When ctx is done the subscriber
// closes.
func New(ctx context.Context, opts ...Option) (*Subscriber, error) {
	cfg := config{logger: slog.Default(), arbitration: DefaultArbitration}
	// Every option is applied, even after one fails, so that every source
	// given is known: the subscriber owns them, and a failed New closes them.
	var errs []error
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			errs = append(errs, err)
		}
	}
	if len(cfg.sources) == 0 {
		errs = append(errs, errors.New("subscriber: no source"))
	}
	if err := errors.Join(errs...); err != nil {
		for _, src := range cfg.sources {
			src.Close()
		}
		for _, r := range cfg.requesters {
			r.Close()
		}
		return nil, err
	}
	if len(cfg.topics) == 0 {
		cfg.topics = []string{""}
	}
	s := &Subscriber{
		ctx:  ctx,
		cfg:  cfg,
		ack:  -1,
		live: len(cfg.sources),
		done: make(chan struct{}),
		wait: time.NewTimer(time.Hour),
	}
	s.wait.Stop()
	set := &topic.Set{}
	s.feed = newFeed(set, cfg.staleAfter, cfg.arbitration)
	if cfg.maxTopics > 0 {
		s.feed.maxTopics = cfg.maxTopics
	}
	if cfg.topicIdle > 0 {
		s.feed.topicIdle = cfg.topicIdle
	}
	if cfg.snapshot && len(cfg.requesters) == 0 {
		s.close()
		return nil, errors.New("subscriber: WithSnapshot needs WithRecovery: snapshots come from a recovery service")
	}
	if len(cfg.requesters) > 0 {
		s.feed.snapshots = cfg.snapshot
		timeout := cfg.recTimeout
		if timeout <= 0 {
			timeout = DefaultRecoveryTimeout
		}
		s.cfg.recTimeout = timeout
		s.recServices = services(cfg.requesters)
		var endpoints []string
		for _, conns := range s.recServices {
			endpoints = append(endpoints, conns[0].Endpoint())
		}
		s.feed.enableRecovery(recoveryConfig{timeout: timeout, endpoint: endpoints[0], services: endpoints})
		s.recSignal = make(chan struct{}, 1)
		s.recCtx, s.recCancel = context.WithCancel(context.Background())
		s.startRecoveryClient()
	}
	now := time.Now()
	var endpoints []string
	for _, src := range cfg.sources {
		s.lines = append(s.lines, s.feed.addLine(src.Endpoint(), now))
		endpoints = append(endpoints, src.Endpoint())
	}
	s.evlog = newEventLog(cfg.logger, endpoints)
	// The control topic carries heartbeats and session ends: every
	// subscriber needs it, whatever it asked for. It goes last, and all of
	// them together where the source can (zmtp: one write), so that a
	// publisher waiting for subscribers counts this one with every topic
	// it asked for, and never sends it the end of a session whose ticks it
	// did not send it.
	var prefixes [][]byte
	for _, p := range cfg.topics {
		set.Add([]byte(p))
		prefixes = append(prefixes, []byte(p))
	}
	prefixes = append(prefixes, []byte(schema.ControlTopic))
	for _, src := range cfg.sources {
		if err := subscribeAll(src, prefixes); err != nil {
			s.close() // sources, requesters, the recovery client
			return nil, fmt.Errorf("subscriber: subscribe on %s: %w", src.Endpoint(), err)
		}
	}
	if len(cfg.sources) > 1 {
		s.in = make(chan delivery)
		for i, src := range cfg.sources {
			s.acks = append(s.acks, make(chan struct{}))
			s.pumps.Add(1)
			go s.pump(i, src)
		}
	}
	s.stopCtx = context.AfterFunc(ctx, func() {
		s.mu.Lock()
		if s.closeErr == nil {
			s.closeErr = fmt.Errorf("%w: %w", ErrClosed, context.Cause(ctx))
		}
		s.mu.Unlock()
		s.close()
	})
	return s, nil
}

// subscribeAll subscribes src to every prefix: together, if it can.
func subscribeAll(src Source, prefixes [][]byte) error {
	if all, ok := src.(interface{ SubscribeAll([][]byte) error }); ok {
		return all.SubscribeAll(prefixes)
	}
	for _, p := range prefixes {
		if err := src.Subscribe(p); err != nil {
			return fmt.Errorf("subscribe %q: %w", p, err)
		}
	}
	return nil
}

// Subscribe adds a topic prefix while the subscriber runs. Each topic it
// brings in is joined at the first message heard, as at the start.
func (s *Subscriber) Subscribe(prefix string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	for _, src := range s.cfg.sources {
		if err := src.Subscribe([]byte(prefix)); err != nil {
			return fmt.Errorf("subscriber: subscribe %q on %s: %w", prefix, src.Endpoint(), err)
		}
	}
	s.record(change{prefix, true})
	return nil
}

// Unsubscribe undoes one Subscribe (or one prefix given to WithTopics):
// subscriptions are counted, as ZeroMQ's are. Topics no prefix matches any
// more are forgotten, ticks held for them included (they are not reported
// as lost: they were given up); subscribed again later, they are joined
// afresh, so what was published meanwhile is not a gap.
func (s *Subscriber) Unsubscribe(prefix string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	var errs []error
	for _, src := range s.cfg.sources {
		if err := src.Unsubscribe([]byte(prefix)); err != nil {
			errs = append(errs, fmt.Errorf("subscriber: unsubscribe %q on %s: %w", prefix, src.Endpoint(), err))
		}
	}
	s.record(change{prefix, false})
	return errors.Join(errs...)
}

func (s *Subscriber) record(c change) {
	s.mu.Lock()
	s.changes = append(s.changes, c)
	s.mu.Unlock()
	s.changed.Store(true)
}

// Next returns the next event, blocking until there is one or ctx is done
// (then it returns ctx's error, and the subscriber carries on: call Next
// again). The event's Topic and Ticks stay valid until the next call; use
// Event.Clone to keep them. Next returns ErrClosed once the subscriber is
// closed, or the error of the last of its sources to fail.
//
// ctx bounds this call only (a deadline per call, say); the context given to
// New bounds the subscriber's life. A context that can be cancelled costs
// one registration each time Next is given a different one, none per
// event.
func (s *Subscriber) Next(ctx context.Context) (Event, error) {
	f := s.feed
	for {
		if f.pending() {
			ev := f.pop()
			if ev.Kind != EventTicks {
				s.evlog.event(&ev)
			}
			return ev, nil
		}
		if s.recReady.Load() {
			s.applyRecovery()
			continue
		}
		if len(f.requests) > 0 {
			s.dispatchRecovery()
		}
		if s.changed.Load() {
			s.applySubscriptions()
		}
		if s.cur != nil && s.next < len(s.cur.Msgs) {
			m := &s.cur.Msgs[s.next]
			s.next++
			f.message(s.curLine, m, s.cur.Time)
			continue
		}
		f.timeout(time.Now())
		if f.pending() {
			continue
		}
		if err := s.receive(ctx); err != nil {
			return Event{}, err
		}
	}
}

// watch makes ctx's end wake the sources, so that a Next blocked in one
// returns: once per context, not per call.
func (s *Subscriber) watch(ctx context.Context) {
	if ctx.Done() == nil {
		return // never done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watched == ctx || s.closed.Load() {
		return
	}
	if s.stopWatch != nil {
		s.stopWatch()
	}
	s.watched = ctx
	s.stopWatch = context.AfterFunc(ctx, func() {
		for _, src := range s.cfg.sources {
			src.Wake()
		}
	})
}

// unwatch unregisters the context watch installs, if any.
func (s *Subscriber) unwatch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopWatch != nil {
		s.stopWatch()
		s.stopWatch, s.watched = nil, nil
	}
}

// receive makes the next batch current, or returns with none at the next
// stale deadline, or at ctx's end with its error.
func (s *Subscriber) receive(ctx context.Context) error {
	s.cur = nil
	if s.closed.Load() {
		return s.closedErr()
	}
	if ctx.Err() != nil {
		return s.ctxErr(ctx.Err())
	}
	deadline := s.feed.deadline()
	ctxDeadline, hasDeadline := ctx.Deadline()
	if hasDeadline && (deadline.IsZero() || ctxDeadline.Before(deadline)) {
		deadline = ctxDeadline
	}
	var d delivery
	if s.in == nil {
		s.watch(ctx)
		d.batch, d.err = s.cfg.sources[0].Next(deadline)
	} else {
		if s.ack >= 0 {
			// The source's goroutine may read again: we are done with its
			// batch. (Close may have ended that goroutine meanwhile.)
			select {
			case s.acks[s.ack] <- struct{}{}:
			case <-s.done:
				return s.closedErr()
			}
			s.ack = -1
		}
		if s.live == 0 {
			return ErrClosed
		}
		var timeout <-chan time.Time
		if !deadline.IsZero() {
			s.wait.Reset(time.Until(deadline))
			timeout = s.wait.C
		}
		select {
		case d = <-s.in:
			s.wait.Stop()
		case <-timeout:
			return s.ctxEnded(ctx, ctxDeadline, hasDeadline)
		case <-ctx.Done():
			s.wait.Stop()
			return s.ctxErr(ctx.Err())
		case <-s.recSignal: // nil without recovery
			s.wait.Stop()
			return nil
		case <-s.done:
			return s.closedErr()
		}
	}
	if d.err != nil {
		if s.closed.Load() {
			return s.closedErr()
		}
		if s.in == nil {
			return fmt.Errorf("subscriber: %s: %w", s.lines[0].endpoint, d.err)
		}
		s.cfg.logger.Warn("subscriber: line failed", "line", d.src, "endpoint", s.lines[d.src].endpoint, "err", d.err)
		if s.live--; s.live == 0 {
			return fmt.Errorf("subscriber: every line failed, last %s: %w", s.lines[d.src].endpoint, d.err)
		}
		return nil
	}
	if s.in != nil {
		s.ack = d.src
	}
	l := s.lines[d.src]
	for _, e := range d.batch.Events {
		s.feed.lineEvent(l, e, time.Now())
	}
	s.cur, s.curLine, s.next = d.batch, l, 0
	if len(d.batch.Msgs) == 0 && len(d.batch.Events) == 0 {
		return s.ctxEnded(ctx, ctxDeadline, hasDeadline)
	}
	return nil
}

// ctxEnded returns ctx's error if it is done or its deadline has passed
// (its timer may fire a moment after the source's), nil otherwise.
func (s *Subscriber) ctxEnded(ctx context.Context, deadline time.Time, hasDeadline bool) error {
	if err := ctx.Err(); err != nil {
		return s.ctxErr(err)
	}
	if hasDeadline && !time.Now().Before(deadline) {
		return s.ctxErr(context.DeadlineExceeded)
	}
	return nil
}

// ctxErr is what Next returns when ctx ended it with err: err, unless the
// subscriber's own context (New's) has ended too, as when both are one:
// then the subscriber is closed, and Next says so as it would had Close
// been seen first (ErrClosed, wrapping the context's cause).
func (s *Subscriber) ctxErr(err error) error {
	if s.ctx.Err() == nil {
		return err
	}
	return fmt.Errorf("%w: %w", ErrClosed, context.Cause(s.ctx))
}

// pump reads source i for Next, one batch at a time: a batch stays valid
// until Next acknowledges it.
func (s *Subscriber) pump(i int, src Source) {
	defer s.pumps.Done()
	for {
		b, err := src.Next(time.Time{})
		select {
		case s.in <- delivery{src: i, batch: b, err: err}:
		case <-s.done:
			return
		}
		if err != nil {
			return
		}
		select {
		case <-s.acks[i]:
		case <-s.done:
			return
		}
	}
}

func (s *Subscriber) applySubscriptions() {
	s.mu.Lock()
	changes := s.changes
	s.changes = nil
	s.changed.Store(false)
	s.mu.Unlock()
	// Changes apply in order: topics an Unsubscribe leaves unmatched are
	// forgotten before a later Subscribe brings them back, as they would be
	// had Next run between the two calls; otherwise what was published
	// meanwhile would be reported as a gap.
	removed := false
	for _, c := range changes {
		if c.add {
			if removed {
				s.feed.forgetUnsubscribed()
				removed = false
			}
			s.feed.topics.Add([]byte(c.prefix))
		} else if s.feed.topics.Remove([]byte(c.prefix)) {
			removed = true
		}
	}
	if removed {
		s.feed.forgetUnsubscribed()
	}
}

func (s *Subscriber) closedErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closeErr != nil {
		return s.closeErr
	}
	return ErrClosed
}

// Close stops the subscriber and closes its sources. A blocked Next returns.
// When Close returns, every goroutine the subscriber started has ended.
func (s *Subscriber) Close() error {
	err := s.close()
	s.stopCtx()
	s.unwatch()
	return err
}

// close stops the subscriber once; ErrClosed after the first time.
func (s *Subscriber) close() error {
	err := ErrClosed
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.done)
		if s.recCancel != nil {
			s.recCancel() // a recovery request in progress returns
		}
		err = s.closeSources() // a pump blocked in its source's Next returns
		s.pumps.Wait()
		for _, r := range s.cfg.requesters {
			r.Close()
		}
	})
	return err
}

func (s *Subscriber) closeSources() error {
	var errs []error
	for _, src := range s.cfg.sources {
		if err := src.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Stats returns the counters, up to the event Next returned last. It may be
// called from any goroutine.
func (s *Subscriber) Stats() Stats {
	f := s.feed
	st := Stats{Ticks: f.ticksOut.get(), Gaps: f.gaps.get(), Missing: f.missing.get(),
		TopicsExpired: f.topicsExpired.get(), Recovered: f.recoveredTicks.get(), Recoveries: f.recoveries.get(),
		Unrecovered: f.unrecovered.get(), RecoverySkipped: f.recoverySkipped.get(), RecoveryLate: f.recoveryLate.get(),
		RecoveryMalformed: f.recoveryMalformed.get(), Snapshots: f.snapshotTopics.get(),
		SnapshotsStale: f.snapshotsStale.get(), SnapshotsFailed: f.snapshotsFailed.get()}
	for i, l := range s.lines {
		ls := l.stats.snapshot(l.endpoint)
		if in, ok := s.cfg.sources[i].(port.Instrumented); ok {
			ls.Transport = in.AppendMetrics(nil)
		}
		st.Lines = append(st.Lines, ls)
		st.Total.Add(ls)
	}
	return st
}
