package inproc

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickcast/tickcast/internal/peerset"
	"github.com/tickcast/tickcast/internal/ratelog"
	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/topic"
)

// Pub is the publishing side of an inproc:// endpoint: it sends each of its
// subscribers the messages whose topic matches its subscriptions. It
// implements port.Sink and port.SubscriberWaiter.
type Pub struct {
	endpoint, name string
	ns             *Namespace
	hwm, maxBytes  int
	log            *slog.Logger
	cutLog         ratelog.Limiter

	mu     sync.Mutex // guards pipes, nextID, changes to active and closed
	pipes  []*pipe    // every connected subscriber, subscribed or not
	nextID uint64
	active peerset.Set[*pipe] // the pipes with a subscription: what Send goes through
	closed atomic.Bool

	bufs bufPool

	messages, bytes, dropped, cut atomic.Uint64
}

var (
	_ port.Sink             = (*Pub)(nil)
	_ port.SubscriberWaiter = (*Pub)(nil)
)

// Listen binds endpoint (inproc://name) in its namespace and returns the
// publisher: subscribers connected to the name already (Dial) are connected
// to it at once. A name bound already is an error wrapping
// syscall.EADDRINUSE.
func Listen(endpoint string, opts ...Option) (*Pub, error) {
	p, err := newPub(endpoint, opts)
	if err != nil {
		return nil, err
	}
	mismatched, err := p.ns.bindPub(p)
	if err != nil {
		return nil, err
	}
	if mismatched {
		p.log.Warn("inproc: publishers connect to this name, and wait for a subscriber to bind it: this publisher cannot serve them",
			"endpoint", p.endpoint)
	}
	return p, nil
}

// DialPub returns a publisher that connects to endpoint (inproc://name),
// which a subscriber binds (ListenSub): now, if one has, or when one does.
// Until then, what it sends reaches nobody.
func DialPub(endpoint string, opts ...Option) (*Pub, error) {
	p, err := newPub(endpoint, opts)
	if err != nil {
		return nil, err
	}
	if p.ns.connectPub(p) {
		p.log.Warn("inproc: a publisher binds this name: a publisher cannot connect to it; waiting for a subscriber to bind it",
			"endpoint", p.endpoint)
	}
	return p, nil
}

func newPub(endpoint string, opts []Option) (*Pub, error) {
	name, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	o := configure(opts)
	p := &Pub{endpoint: endpoint, name: name, ns: o.ns, hwm: o.hwm, maxBytes: o.maxBytes, log: o.log,
		cutLog: ratelog.Limiter{Every: 10 * time.Second}}
	return p, nil
}

// Endpoint returns the endpoint, as given.
func (p *Pub) Endpoint() string { return p.endpoint }

// attach connects p and s with a new pipe. The namespace's lock is held.
func attach(p *Pub, s *Sub) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return
	}
	pi := &pipe{pub: p, sub: s, id: p.nextID, seen: make(map[string]struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	for _, prefix := range s.subs {
		pi.subs.Add(prefix)
	}
	s.pipes = append(s.pipes, pi)
	s.addEvent(pi, port.LineEvent{Kind: port.LineUp, Detail: p.endpoint})
	on := pi.subs.Len() > 0
	s.mu.Unlock()
	s.notify()
	p.nextID++
	pi.attached = true
	p.pipes = append(p.pipes, pi)
	if on {
		p.setActiveLocked(pi, true)
	}
}

// refresh puts pi in the list Send goes through if it is attached and has
// a subscription, and takes it out otherwise. It reads the pipe's state
// afresh, so calls in any order leave the list right.
func (p *Pub) refresh(pi *pipe) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := pi.sub
	s.mu.Lock()
	on := pi.attached && !pi.closed && pi.subs.Len() > 0
	queued := len(s.q.raws) > 0
	s.mu.Unlock()
	if !on && queued {
		s.notify() // what Flush would have woken it for, it will no longer
	}
	p.setActiveLocked(pi, on)
}

// removePipe forgets pi: its subscriber closed.
func (p *Pub) removePipe(pi *pipe) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !pi.attached {
		return
	}
	pi.attached = false
	p.pipes = remove(p.pipes, pi)
	p.setActiveLocked(pi, false)
}

func (p *Pub) setActiveLocked(pi *pipe, on bool) {
	if !p.closed.Load() {
		p.active.Update(pi, on)
	}
}

// WaitSubscribers blocks until at least n subscribers have subscribed to
// something, so that what is sent from then on reaches them if it matches;
// until ctx is done, returning its error; or until the Pub is closed
// (ErrClosed). A subscriber counts once its Subscribe (or SubscribeAll, with
// every prefix given) has returned.
func (p *Pub) WaitSubscribers(ctx context.Context, n int) error {
	return p.active.Wait(ctx, &p.mu, n, p.closed.Load, ErrClosed)
}

// Send queues the message for every subscriber whose subscriptions match
// its topic: copied once, into a buffer they share, if any takes it. It
// never blocks but on the subscribers' locks, which are held briefly. A
// subscriber over its high-water mark loses the message (counted).
func (p *Pub) Send(m port.Message) error {
	if p.closed.Load() {
		return ErrClosed
	}
	n := len(m.Topic) + len(m.Body)
	p.messages.Add(1)
	p.bytes.Add(uint64(n))
	active := p.active.Load()
	if len(active) == 0 {
		return nil
	}
	class, charge := sizeClass(n)
	var (
		buf  *buffer
		data []byte
		refs int64
	)
	for _, pi := range active {
		s := pi.sub
		s.mu.Lock()
		ok, kicked := pi.admit(m.Topic, charge, m.Control)
		if ok {
			if data == nil {
				buf, data = p.bufs.fill(class, charge, m.Topic, m.Body)
			}
			s.q.raws = append(s.q.raws, port.Raw{Topic: data[:len(m.Topic):len(m.Topic)],
				Body: data[len(m.Topic):n:n], Frames: 2, Size: n})
			s.q.meta = append(s.q.meta, meta{buf: buf, pipe: pi, charge: charge})
			pi.msgs++
			pi.bytes += charge
			refs++
		}
		early := ok && pi.bytes >= wakeEarly
		s.mu.Unlock()
		switch {
		case kicked != nil:
			p.cutOff(kicked)
			s.notify()
		case early:
			s.notify()
		case ok && !pi.unflushed.Load():
			pi.unflushed.Store(true)
		}
	}
	if buf != nil {
		buf.release(bias - refs)
	}
	return nil
}

// Flush wakes the subscribers that Send queued messages for since the last
// Flush.
func (p *Pub) Flush() error {
	for _, pi := range p.active.Load() {
		if pi.unflushed.Load() && pi.unflushed.Swap(false) {
			pi.sub.notify()
		}
	}
	return nil
}

// cutOff counts a subscriber disconnected for slowness and logs it: at
// Warn, at most every 10 s with the count since.
func (p *Pub) cutOff(reason error) {
	p.cut.Add(1)
	if ok, more := p.cutLog.Allow(time.Now()); ok {
		p.log.Warn("inproc: subscriber disconnected", "endpoint", p.endpoint, "reason", reason,
			"others_since_last_log", more)
	}
}

// Stats returns the publisher's counters: Peers are the subscribers
// connected, Subscribed those with a subscription.
func (p *Pub) Stats() port.SinkStats {
	p.mu.Lock()
	n := len(p.pipes)
	p.mu.Unlock()
	return port.SinkStats{
		Endpoint:   p.endpoint,
		Peers:      n,
		Subscribed: p.active.Len(),
		Messages:   p.messages.Load(),
		Bytes:      p.bytes.Load(),
		Dropped:    p.dropped.Load(),
	}
}

// PubStats are the Pub's own counters beyond the sink's.
type PubStats struct {
	Queued int    // bytes queued across subscribers now (each counts what it holds)
	Cut    uint64 // subscribers disconnected (and connected again) for slowness
}

// PeerStats describe one connected subscriber.
type PeerStats struct {
	ID            uint64 // the connection's number at this publisher, from 0
	Subscriptions int    // distinct prefixes
	Queued        int    // messages waiting for it
	QueuedBytes   int    // their buffers' bytes
	Dropped       uint64 // messages dropped for it at the high-water mark, or queued when it closed
}

// Peers returns the connected subscribers: the one dropping messages is the
// slow consumer.
func (p *Pub) Peers() []PeerStats {
	p.mu.Lock()
	pipes := append([]*pipe(nil), p.pipes...)
	p.mu.Unlock()
	out := make([]PeerStats, 0, len(pipes))
	for _, pi := range pipes {
		s := pi.sub
		s.mu.Lock()
		out = append(out, PeerStats{ID: pi.id, Subscriptions: pi.subs.Len(), Queued: pi.msgs,
			QueuedBytes: pi.bytes, Dropped: pi.dropped})
		s.mu.Unlock()
	}
	return out
}

// PubStats returns the Pub's own counters.
func (p *Pub) PubStats() PubStats {
	st := PubStats{Cut: p.cut.Load()}
	for _, pe := range p.Peers() {
		st.Queued += pe.QueuedBytes
	}
	return st
}

// Close disconnects every subscriber and frees the name. What is queued
// for a subscriber stays queued: it gets all of it, then LineDown. Close
// does not wait: nothing queued is held by the publisher.
func (p *Pub) Close() error {
	p.mu.Lock()
	if p.closed.Load() {
		p.mu.Unlock()
		return ErrClosed
	}
	p.closed.Store(true)
	p.active.Wake() // WaitSubscribers returns
	pipes := p.pipes
	p.pipes = nil
	for _, pi := range pipes {
		pi.attached = false
	}
	p.active.Clear()
	p.mu.Unlock()
	p.ns.removePub(p)
	for _, pi := range pipes {
		pi.sub.detach(pi, fmt.Sprintf("%s: the publisher closed", p.endpoint))
	}
	return nil
}

// pipe joins a publisher and one of its subscribers: the subscriber's
// subscriptions as the publisher sees them, and the accounting of what the
// publisher queued for it.
type pipe struct {
	pub *Pub
	sub *Sub
	id  uint64
	// unflushed: Send queued something since the last Flush.
	unflushed atomic.Bool

	// Guarded by pub.mu.
	attached bool // in pub.pipes

	// Guarded by sub.mu.
	subs    topic.Set
	seen    map[string]struct{} // topics queued for this subscriber
	msgs    int                 // messages queued, not yet taken by Next
	bytes   int                 // their buffers' bytes
	dropped uint64
	closed  bool // disconnected: the publisher or the subscriber closed
}

// admit decides whether a message on topic, charge bytes, may be queued
// for the pipe's subscriber; sub.mu is held. Over the high-water mark it
// is dropped (counted); if it is a control message, or the first on its
// topic, and the reserve is full too, the subscriber is hopelessly behind:
// what is queued for it is dropped as well, and it is connected again
// (kicked says why).
func (pi *pipe) admit(topic []byte, charge int, control bool) (ok bool, kicked error) {
	if pi.closed || !pi.subs.Match(topic) {
		return false, nil
	}
	p, s := pi.pub, pi.sub
	// The first message on a topic is where the subscriber joins the
	// topic: lose it and the subscriber cannot know what it missed before
	// the next one. So it queues like a control message.
	_, seen := pi.seen[string(topic)]
	reserve := control || !seen
	// A publisher that closed left messages for the subscriber: they count
	// against its queue, which bounds the subscriber's queue whatever
	// publishers come and go.
	queued, bytes := pi.msgs+s.orphanMsgs, pi.bytes+s.orphanBytes
	var over bool
	if reserve {
		over = queued >= p.hwm+controlReserve || bytes >= p.maxBytes+reserveBytes
	} else {
		over = queued >= p.hwm || bytes >= p.maxBytes
	}
	if over {
		pi.dropped++
		p.dropped.Add(1)
		if reserve && pi.msgs > 0 {
			kicked = fmt.Errorf("too slow: %d messages, %d bytes queued", queued, bytes)
			s.reset(pi, kicked)
		}
		return false, kicked
	}
	if !seen {
		pi.seen[string(topic)] = struct{}{}
	}
	return true, nil
}
