// Package inproc carries tickcast feeds between a publisher and subscribers
// in one process: ZeroMQ's inproc://name transport, with the semantics and
// counters of tcp:// (package zmtp) and no copy beyond the one Send must
// make.
//
// # Semantics
//
// As over tcp://, every subscriber has its own bounded queue at the
// publisher (WithSendHWM messages, WithSendBuffer bytes; zmtp's defaults):
// over it, data is dropped for that subscriber alone and counted
// (port.SinkStats.Dropped), while control messages (port.Message.Control:
// heartbeats, session ends) and the first message on each topic queue
// within a reserve beyond the mark. A subscriber so far behind that even
// the reserve is full is disconnected and connected again at once: what
// was queued for it is dropped and counted, and it sees LineDown then
// LineUp, as a tcp:// subscriber cut off for slowness would. Subscriptions
// are topic prefixes, counted as ZeroMQ counts them; only what matches
// reaches a subscriber, and a publisher's work per message is proportional
// to the subscribers that subscribed to something. WaitSubscribers waits
// for subscribers that have subscribed.
//
// A subscriber's Source delivers LineUp when it is connected to a
// publisher, and LineDown, after every message queued for it, when the
// publisher closes; if another publisher binds the name later, it connects
// again (LineUp), as a ZeroMQ SUB reconnects. A subscriber may connect
// before the publisher binds (as with ZeroMQ 4's inproc): it waits, and
// gets LineUp when the publisher appears.
//
// # Zero copy
//
// Send copies a message once, into a buffer that every subscriber it is
// queued for shares, and only if one of them takes it: no copy per
// subscriber, none for a message nobody subscribed to. Buffers come from
// per-publisher pools by size class and go back when the last subscriber
// that received the message calls Next again, so a steady feed allocates
// nothing per message. A subscriber's Next takes everything queued for it
// in one go: one lock per batch, no channel operation per message. What a
// subscriber's queue costs is what its buffers hold (their size class),
// which is what WithSendBuffer bounds.
//
// # Bind and connect
//
// As in ZeroMQ, either side may bind a name, and the other connects to it:
// by default a publisher binds (Listen) and a subscriber connects (Dial);
// DialPub and ListenSub are the other way round, a subscriber that binds
// and takes the feeds of any number of publishers that connect to it. A
// name is bound by one socket at a time: binding it again is an error
// wrapping syscall.EADDRINUSE, and closing the socket that bound it frees
// it. Connecting never fails for want of the other side: a connecting
// socket waits for a binding one, and connects again to the next one to
// bind after the first goes away.
//
// # Namespaces
//
// Names live in a Namespace, as ZeroMQ's inproc names live in a context: a
// publisher and its subscribers must share one. Sockets opened without
// WithNamespace use DefaultNamespace, the one process-wide registry this
// package keeps, deliberately: it is to inproc:// what the operating
// system's port table is to tcp://, so that two parts of a program that
// know only an endpoint string find each other. Programs and tests that
// want isolation (tests that run in parallel with the same names) use
// their own, from NewNamespace.
//
// Nothing here starts a goroutine: a Pub's Send hands messages to its
// subscribers' queues in the caller's goroutine, and a Sub's Next waits in
// its caller's.
package inproc

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"

	"github.com/tickcast/tickcast/port"
)

// Errors.
var (
	// ErrEndpoint is wrapped by every error about an endpoint string: not
	// inproc://, no name, a name too long. It wraps port.ErrEndpoint.
	ErrEndpoint = fmt.Errorf("inproc: %w", port.ErrEndpoint)
	// ErrClosed is returned by operations on a closed Pub or Sub.
	ErrClosed = errors.New("inproc: closed")
	// ErrTooManySubscriptions is returned by a Subscribe beyond a Sub's
	// bounds (WithMaxSubscriptions, and a megabyte of prefixes).
	ErrTooManySubscriptions = errors.New("inproc: too many subscriptions")
)

// Defaults and bounds, zmtp's where zmtp has them.
const (
	// DefaultSendHWM is how many messages may queue for one subscriber
	// before data is dropped for it: zmtp.DefaultSendHWM.
	DefaultSendHWM = 10_000
	// DefaultSendBuffer bounds the bytes queued for one subscriber:
	// zmtp.DefaultSendBuffer.
	DefaultSendBuffer = 16 << 20
	// DefaultMaxSubscriptions bounds one subscriber's subscriptions (each
	// Subscribe not undone counts): zmtp.DefaultMaxSubscriptions.
	DefaultMaxSubscriptions = 10_000
	// MaxName bounds the length of a name, in bytes.
	MaxName = 256
	// controlReserve and reserveBytes are what control messages and the
	// first message on a topic may queue beyond the high-water marks:
	// zmtp's values.
	controlReserve = 1000
	reserveBytes   = 1 << 20
	// maxSubscriptionBytes bounds the bytes of one subscriber's prefixes
	// together, as zmtp bounds a connection's.
	maxSubscriptionBytes = 1 << 20
	// wakeEarly is the bytes queued for a subscriber at which Send wakes
	// it before the publisher's Flush, as zmtp wakes a peer's writer.
	wakeEarly = 256 << 10
)

// Option configures a Pub or a Sub. Options that concern the other kind of
// socket are ignored.
type Option func(*options)

type options struct {
	ns       *Namespace
	hwm      int
	maxBytes int
	maxSubs  int
	log      *slog.Logger
}

func configure(opts []Option) options {
	o := options{ns: defaultNamespace, hwm: DefaultSendHWM, maxBytes: DefaultSendBuffer,
		maxSubs: DefaultMaxSubscriptions, log: slog.Default()}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WithNamespace opens the socket in ns instead of DefaultNamespace (nil
// keeps the default).
func WithNamespace(ns *Namespace) Option {
	return func(o *options) {
		if ns != nil {
			o.ns = ns
		}
	}
}

// WithSendHWM sets how many messages may wait for one subscriber (default
// DefaultSendHWM); beyond it, data for that subscriber is dropped and
// counted. (Pub.)
func WithSendHWM(n int) Option { return func(o *options) { o.hwm = max(n, 1) } }

// WithSendBuffer sets how many bytes may wait for one subscriber (default
// DefaultSendBuffer), counted as the size classes of the buffers queued;
// beyond it, data for that subscriber is dropped and counted. (Pub.)
func WithSendBuffer(n int) Option { return func(o *options) { o.maxBytes = max(n, 1) } }

// WithMaxSubscriptions sets how many subscriptions a subscriber may hold
// (default DefaultMaxSubscriptions); a Subscribe beyond returns
// ErrTooManySubscriptions. (Sub.)
func WithMaxSubscriptions(n int) Option { return func(o *options) { o.maxSubs = max(n, 1) } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// ParseEndpoint returns the name in an inproc://name endpoint: one to
// MaxName bytes, anything but empty. Errors wrap ErrEndpoint.
func ParseEndpoint(endpoint string) (name string, err error) {
	scheme, name, ok := strings.Cut(endpoint, "://")
	switch {
	case !ok || scheme != "inproc":
		return "", fmt.Errorf("%w %q: not an inproc endpoint (want inproc://name)", ErrEndpoint, endpoint)
	case name == "":
		return "", fmt.Errorf("%w %q: no name (want inproc://name)", ErrEndpoint, endpoint)
	case len(name) > MaxName:
		return "", fmt.Errorf("%w %q: a name of %d bytes (at most %d)", ErrEndpoint, endpoint, len(name), MaxName)
	}
	return name, nil
}

// A Namespace is a table of inproc names, as a ZeroMQ context is: sockets
// find each other by name within one namespace only. The zero value is not
// ready to use; NewNamespace makes one. A Namespace needs no closing: it
// holds only the sockets open in it, and each leaves it when closed.
type Namespace struct {
	mu    sync.Mutex
	names map[string]*binding
}

// binding is one name's sockets: the one that bound it, if any, and those
// connecting to it.
type binding struct {
	pub  *Pub   // the publisher that bound the name
	sub  *Sub   // the subscriber that bound it
	subs []*Sub // subscribers connecting to it, in order
	pubs []*Pub // publishers connecting to it, in order
}

// NewNamespace returns an empty namespace.
func NewNamespace() *Namespace { return &Namespace{names: make(map[string]*binding)} }

// defaultNamespace is the process-wide namespace: see the package
// documentation.
var defaultNamespace = NewNamespace()

// DefaultNamespace returns the process-wide namespace that sockets opened
// without WithNamespace share (endpoint.Sink and endpoint.Source among
// them).
func DefaultNamespace() *Namespace { return defaultNamespace }

// Bound reports whether name is bound in ns now (by a publisher or a
// subscriber).
func (ns *Namespace) Bound(name string) bool {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	b := ns.names[name]
	return b != nil && (b.pub != nil || b.sub != nil)
}

func (ns *Namespace) lookup(name string) *binding {
	b := ns.names[name]
	if b == nil {
		b = &binding{}
		ns.names[name] = b
	}
	return b
}

// forget drops name's entry once nothing binds or connects to it.
func (ns *Namespace) forget(name string, b *binding) {
	if b.pub == nil && b.sub == nil && len(b.subs) == 0 && len(b.pubs) == 0 {
		delete(ns.names, name)
	}
}

// bindPub binds name to p and connects the subscribers waiting for it. It
// reports whether publishers are waiting there too (they wait for a
// subscriber to bind: p cannot serve them).
func (ns *Namespace) bindPub(p *Pub) (mismatched bool, err error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	b := ns.lookup(p.name)
	if b.pub != nil || b.sub != nil {
		return false, inUse(p.endpoint)
	}
	b.pub = p
	for _, s := range b.subs {
		attach(p, s)
	}
	return len(b.pubs) > 0, nil
}

// bindSub binds name to s and connects the publishers waiting for it.
func (ns *Namespace) bindSub(s *Sub) (mismatched bool, err error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	b := ns.lookup(s.name)
	if b.pub != nil || b.sub != nil {
		return false, inUse(s.endpoint)
	}
	b.sub = s
	for _, p := range b.pubs {
		attach(p, s)
	}
	return len(b.subs) > 0, nil
}

// connectSub registers s as connecting to its name, and connects it if a
// publisher has bound the name. It reports whether a subscriber has bound
// it instead.
func (ns *Namespace) connectSub(s *Sub) (mismatched bool) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	b := ns.lookup(s.name)
	b.subs = append(b.subs, s)
	if b.pub != nil {
		attach(b.pub, s)
	}
	return b.sub != nil
}

// connectPub registers p as connecting to its name, and connects it if a
// subscriber has bound the name.
func (ns *Namespace) connectPub(p *Pub) (mismatched bool) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	b := ns.lookup(p.name)
	b.pubs = append(b.pubs, p)
	if b.sub != nil {
		attach(p, b.sub)
	}
	return b.pub != nil
}

// removePub takes p out of its name's entry: the name is free if p bound it.
func (ns *Namespace) removePub(p *Pub) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	b := ns.names[p.name]
	if b == nil {
		return
	}
	if b.pub == p {
		b.pub = nil
	}
	b.pubs = remove(b.pubs, p)
	ns.forget(p.name, b)
}

// removeSub takes s out of its name's entry.
func (ns *Namespace) removeSub(s *Sub) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	b := ns.names[s.name]
	if b == nil {
		return
	}
	if b.sub == s {
		b.sub = nil
	}
	b.subs = remove(b.subs, s)
	ns.forget(s.name, b)
}

// remove deletes x from list, keeping the order, and clears the slot it
// frees.
func remove[T comparable](list []T, x T) []T {
	for i, y := range list {
		if y == x {
			var zero T
			copy(list[i:], list[i+1:])
			list[len(list)-1] = zero
			return list[:len(list)-1]
		}
	}
	return list
}

func inUse(endpoint string) error {
	return fmt.Errorf("inproc: bind %s: the name is bound already: %w", endpoint, syscall.EADDRINUSE)
}
