// Package tickcast publishes and subscribes to market-data feeds: ticks with
// per-topic sequence numbers, batched over ZeroMQ transports (tcp://, ipc://,
// inproc:// and PGM multicast: epgm://, pgm://), wire-compatible with libzmq,
// with exact gap reports, sessions, heartbeats and A/B line arbitration.
// Either side may bind or connect, with CZMQ's prefixes: "@tcp://..." binds,
// ">tcp://..." connects; without one a publisher binds and a subscriber
// connects.
//
// Three calls make a feed. A publisher:
//
//	pub, err := tickcast.NewPublisher("tcp://127.0.0.1:6001")
//	err = pub.Publish("AAPL", tickcast.Tick{Kind: tickcast.Trade, Price: 1892300, PriceExp: -4, Size: 100})
//
// A subscriber, reading events until ctx is done:
//
//	sub, err := tickcast.Subscribe(ctx, "tcp://127.0.0.1:6001", []string{"AAPL", "MSFT"})
//	ev, err := sub.Next(ctx) // EventTicks, EventGap, EventSessionEnd, ...
//
// A subscriber to tcp:// connects in the background, and a message sent
// before its subscription reaches the publisher is not sent to it (ZeroMQ's
// slow-joiner problem): a publisher that must not start before its
// subscribers waits for them with Publisher.WaitSubscribers. Multicast
// publishers cannot know their receivers; see WaitSubscribers for what to do
// instead.
//
// Publisher and Subscriber are the types of packages publisher and
// subscriber, where every method and option is documented; this package
// opens endpoints for them (package endpoint) and gathers the names a feed
// handler needs, so that one import is enough. The layered packages stay for
// what this one does not offer: custom transports (package port), the PGM
// sockets' own settings and counters (package endpoint, pgm/...), the wire
// format (package schema), Prometheus metrics (package metrics).
package tickcast

import (
	"context"
	"errors"
	"log/slog"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/recovery"
	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/subscriber"
)

// The types a feed handler uses, from the packages that define them.
type (
	// Publisher publishes ticks: see package publisher.
	Publisher = publisher.Publisher
	// Subscriber reads a feed: see package subscriber.
	Subscriber = subscriber.Subscriber
	// Tick is one market event: see package schema.
	Tick = schema.Tick
	// Kind says what a tick reports (trade, bid, ask).
	Kind = schema.Kind
	// Event is what Subscriber.Next returns: ticks, a gap, a session
	// change, a line's news.
	Event = subscriber.Event
	// EventKind says what an Event reports.
	EventKind = subscriber.EventKind
	// Gap says which ticks of a topic will not arrive.
	Gap = subscriber.Gap
)

// Tick kinds.
const (
	Trade = schema.KindTrade
	Bid   = schema.KindBid
	Ask   = schema.KindAsk
)

// Event kinds; package subscriber documents each.
const (
	EventTicks        = subscriber.EventTicks
	EventGap          = subscriber.EventGap
	EventSessionStart = subscriber.EventSessionStart
	EventSessionEnd   = subscriber.EventSessionEnd
	EventStale        = subscriber.EventStale
	EventActive       = subscriber.EventActive
	EventLineUp       = subscriber.EventLineUp
	EventLineDown     = subscriber.EventLineDown
	EventLineLoss     = subscriber.EventLineLoss
	EventBackwards    = subscriber.EventBackwards
	EventTopicLimit   = subscriber.EventTopicLimit
	EventRecovered    = subscriber.EventRecovered
	EventSnapshot     = subscriber.EventSnapshot
)

// Errors, from the packages that return them.
var (
	// ErrEndpoint is wrapped by every error about an endpoint string.
	ErrEndpoint = endpoint.ErrEndpoint
	// ErrQueueFull: Publish found the publisher's queue full (the tick was
	// not published, and takes no sequence number).
	ErrQueueFull = publisher.ErrQueueFull
	// ErrPublisherClosed and ErrSubscriberClosed: the publisher or the
	// subscriber was closed (publisher.ErrClosed, subscriber.ErrClosed).
	ErrPublisherClosed  = publisher.ErrClosed
	ErrSubscriberClosed = subscriber.ErrClosed
)

// Option configures NewPublisher or Subscribe.
type Option func(*options) error

type options struct {
	lines    []string
	service  string   // NewPublisher: a recovery service's endpoint
	recovery []string // Subscribe: recovery services to ask
	snapshot bool
	logger   *slog.Logger
	endpoint []endpoint.Option
	pub      []publisher.Option
	sub      []subscriber.Option
}

// WithLine adds an endpoint: a publisher sends the same feed (one session)
// on every endpoint it has, and a subscriber reads every one, delivering
// each tick once from whichever line brings it first (A/B lines).
func WithLine(endpoint string) Option {
	return func(o *options) error { o.lines = append(o.lines, endpoint); return nil }
}

// WithRecoveryService makes NewPublisher keep what it publishes (30 s, 256
// MiB: package recovery's defaults) and serve it on endpoint (tcp:// or
// ipc://) to subscribers that lost some (WithRecovery). The service closes
// with the publisher.
func WithRecoveryService(endpoint string) Option {
	return func(o *options) error { o.service = endpoint; return nil }
}

// WithRecovery makes Subscribe ask these recovery services for the ticks
// no line brought (package subscriber's WithRecovery): every tick in order,
// or an exact gap with the reason. Subscribe opens
// subscriber.RecoveryConnections connections to each, so that as many
// requests to it are in flight at once; a request that fails on the first
// service is tried once on the next.
func WithRecovery(endpoints ...string) Option {
	return func(o *options) error { o.recovery = append(o.recovery, endpoints...); return nil }
}

// WithSnapshot makes Subscribe, with WithRecovery, start from every
// subscribed topic's last value (EventSnapshot), then the live ticks after
// it.
func WithSnapshot() Option {
	return func(o *options) error { o.snapshot = true; return nil }
}

// WithLogger sets the logger of the publisher or subscriber and of its
// transports (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.logger = l; return nil }
}

// WithEndpointOptions passes options to the transports (package endpoint):
// the PGM rate and repair timers, high-water marks, and so on.
func WithEndpointOptions(opts ...endpoint.Option) Option {
	return func(o *options) error { o.endpoint = append(o.endpoint, opts...); return nil }
}

// WithPublisherOptions passes options to the publisher (package
// publisher): batching, heartbeats, queue limit. Subscribe refuses them.
func WithPublisherOptions(opts ...publisher.Option) Option {
	return func(o *options) error { o.pub = append(o.pub, opts...); return nil }
}

// WithSubscriberOptions passes options to the subscriber (package
// subscriber): stale timeout, arbitration window, topic limits.
// NewPublisher refuses them.
func WithSubscriberOptions(opts ...subscriber.Option) Option {
	return func(o *options) error { o.sub = append(o.sub, opts...); return nil }
}

func apply(opts []Option) (options, error) {
	var o options
	var errs []error
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			errs = append(errs, err)
		}
	}
	if o.logger != nil {
		o.endpoint = append(o.endpoint, endpoint.WithLogger(o.logger))
	}
	return o, errors.Join(errs...)
}

// NewPublisher opens the endpoint addr (and those of WithLine) and starts a
// publisher on it with a new session: it binds tcp:// and ipc:// endpoints
// and sends to epgm:// and pgm:// groups from the named interface. Publish
// on it, and Close it when done: Close sends what is queued and the end of
// the session. A bad endpoint is an error wrapping ErrEndpoint; one that
// cannot be opened (an address in use) wraps the system's error.
func NewPublisher(addr string, opts ...Option) (*Publisher, error) {
	o, err := apply(opts)
	if err != nil {
		return nil, err
	}
	if len(o.sub) > 0 || len(o.recovery) > 0 || o.snapshot {
		return nil, errors.New("tickcast: NewPublisher given subscriber options")
	}
	var sinks []port.Sink
	closeAll := func() {
		for _, s := range sinks {
			s.Close()
		}
	}
	if o.service != "" {
		var ro []recovery.ServerOption
		if o.logger != nil {
			ro = append(ro, recovery.WithLogger(o.logger))
		}
		srv, err := recovery.NewServer(o.service, ro...)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, srv)
	}
	for _, ep := range append([]string{addr}, o.lines...) {
		s, err := endpoint.Sink(ep, o.endpoint...)
		if err != nil {
			closeAll()
			return nil, err
		}
		sinks = append(sinks, s)
	}
	po := append([]publisher.Option{publisher.WithSink(sinks...)}, o.pub...)
	if o.logger != nil {
		po = append(po, publisher.WithLogger(o.logger))
	}
	return publisher.New(po...) // closes the sinks if it fails
}

// Subscribe opens the endpoint addr (and those of WithLine) and starts a subscriber
// to the topics that start with any of the given prefixes (ZeroMQ's prefix
// matching; none, or "", is every topic). It connects to tcp:// and ipc://
// endpoints in the background (a publisher not up yet is not an error) and
// joins epgm:// and pgm:// groups on the named interface. Read it with
// Next; it closes when ctx is done or Close is called.
func Subscribe(ctx context.Context, addr string, topics []string, opts ...Option) (*Subscriber, error) {
	o, err := apply(opts)
	if err != nil {
		return nil, err
	}
	if len(o.pub) > 0 || o.service != "" {
		return nil, errors.New("tickcast: Subscribe given publisher options")
	}
	var srcs []port.Source
	for _, ep := range append([]string{addr}, o.lines...) {
		s, err := endpoint.Source(ep, o.endpoint...)
		if err != nil {
			for _, s := range srcs {
				s.Close()
			}
			return nil, err
		}
		srcs = append(srcs, s)
	}
	so := append([]subscriber.Option{subscriber.WithSource(srcs...), subscriber.WithTopics(topics...)}, o.sub...)
	var reqs []port.Requester
	for _, ep := range o.recovery {
		for range subscriber.RecoveryConnections {
			r, err := endpoint.Requester(ep, o.endpoint...)
			if err != nil {
				for _, r := range reqs {
					r.Close()
				}
				for _, s := range srcs {
					s.Close()
				}
				return nil, err
			}
			reqs = append(reqs, r)
		}
	}
	if len(reqs) > 0 {
		so = append(so, subscriber.WithRecovery(reqs...))
	}
	if o.snapshot {
		so = append(so, subscriber.WithSnapshot())
	}
	if o.logger != nil {
		so = append(so, subscriber.WithLogger(o.logger))
	}
	return subscriber.New(ctx, so...) // closes the sources if it fails
}
