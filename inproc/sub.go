package inproc

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickcast/tickcast/port"
)

// Sub is the subscribing side of an inproc:// endpoint. It implements
// port.Source: Next returns everything queued for it since the last call,
// in one batch that refers to the publishers' buffers (no copy), valid
// until the next call.
type Sub struct {
	endpoint, name string
	ns             *Namespace
	maxSubs        int
	log            *slog.Logger
	signal         chan struct{} // capacity 1: something was queued, or Wake
	closedCh       chan struct{}
	woken          atomic.Bool // Wake was called: Next returns

	mu       sync.Mutex // guards below, and the pipes' fields that say so
	subs     [][]byte   // every Subscribe not undone, in order: each new pipe gets them
	subBytes int
	pipes    []*pipe // connected publishers
	q        queue   // messages queued, in order
	// evs are line events, in order, each at the position in q it comes
	// before.
	evs []pendingEvent
	// orphanMsgs and orphanBytes are the messages in q, and their bytes,
	// from publishers that closed: they count against every publisher's
	// high-water mark until they are taken.
	orphanMsgs, orphanBytes int
	closed                  bool

	// Next's own.
	batch   port.Batch
	outMeta []meta // of batch.Msgs: what the last Next handed out
	wait    *time.Timer
}

var _ port.Source = (*Sub)(nil)

// queue is messages queued for a subscriber: the Raw that Next hands out,
// and what it refers to.
type queue struct {
	raws []port.Raw
	meta []meta
}

// meta is what a queued message holds: its buffer (nil for one too large to
// pool), the pipe it came by, and the bytes it counts.
type meta struct {
	buf    *buffer
	pipe   *pipe
	charge int
}

type pendingEvent struct {
	at   int // the number of messages queued before it
	pipe *pipe
	ev   port.LineEvent
}

// Dial returns a subscriber that connects to endpoint (inproc://name),
// which a publisher binds (Listen): now, if one has, or when one does; and
// again to the next one to bind it after that one closes. A publisher that
// is not there yet is not an error.
func Dial(endpoint string, opts ...Option) (*Sub, error) {
	s, err := newSub(endpoint, opts)
	if err != nil {
		return nil, err
	}
	if s.ns.connectSub(s) {
		s.log.Warn("inproc: a subscriber binds this name: a subscriber cannot connect to it; waiting for a publisher to bind it",
			"endpoint", s.endpoint)
	}
	return s, nil
}

// ListenSub binds endpoint (inproc://name) and returns a subscriber that
// takes the feeds of every publisher that connects to it (DialPub), each
// announced by LineUp and LineDown. A name bound already is an error
// wrapping syscall.EADDRINUSE.
func ListenSub(endpoint string, opts ...Option) (*Sub, error) {
	s, err := newSub(endpoint, opts)
	if err != nil {
		return nil, err
	}
	mismatched, err := s.ns.bindSub(s)
	if err != nil {
		return nil, err
	}
	if mismatched {
		s.log.Warn("inproc: subscribers connect to this name, and wait for a publisher to bind it: this subscriber cannot serve them",
			"endpoint", s.endpoint)
	}
	return s, nil
}

func newSub(endpoint string, opts []Option) (*Sub, error) {
	name, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	o := configure(opts)
	s := &Sub{endpoint: endpoint, name: name, ns: o.ns, maxSubs: o.maxSubs, log: o.log,
		signal: make(chan struct{}, 1), closedCh: make(chan struct{}), wait: time.NewTimer(time.Hour)}
	s.wait.Stop()
	return s, nil
}

// Endpoint returns the endpoint, as given.
func (s *Sub) Endpoint() string { return s.endpoint }

// Subscribe asks for the messages whose topic starts with prefix, from
// every publisher connected now or later. Subscriptions are counted: each
// is undone by one Unsubscribe. It may be called while Next runs.
func (s *Sub) Subscribe(prefix []byte) error { return s.SubscribeAll([][]byte{prefix}) }

// SubscribeAll subscribes to every prefix together: a publisher's
// WaitSubscribers counts this subscriber with all of them, not with the
// first alone. It may be called while Next runs.
func (s *Sub) SubscribeAll(prefixes [][]byte) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	n := 0
	for _, p := range prefixes {
		n += len(p)
	}
	if len(s.subs)+len(prefixes) > s.maxSubs || s.subBytes+n > maxSubscriptionBytes {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s: more than %d subscriptions or %d bytes of them",
			ErrTooManySubscriptions, s.endpoint, s.maxSubs, maxSubscriptionBytes)
	}
	for _, p := range prefixes {
		p = bytes.Clone(p)
		s.subs = append(s.subs, p)
		for _, pi := range s.pipes {
			pi.subs.Add(p)
		}
	}
	s.subBytes += n
	pipes := slices.Clone(s.pipes)
	s.mu.Unlock()
	for _, pi := range pipes {
		pi.pub.refresh(pi)
	}
	return nil
}

// Unsubscribe undoes one Subscribe of prefix, for every publisher; a prefix
// not subscribed is ignored. It may be called while Next runs.
func (s *Sub) Unsubscribe(prefix []byte) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	i := slices.IndexFunc(s.subs, func(p []byte) bool { return bytes.Equal(p, prefix) })
	if i < 0 {
		s.mu.Unlock()
		return nil
	}
	s.subs = slices.Delete(s.subs, i, i+1)
	s.subBytes -= len(prefix)
	for _, pi := range s.pipes {
		pi.subs.Remove(prefix)
	}
	pipes := slices.Clone(s.pipes)
	s.mu.Unlock()
	for _, pi := range pipes {
		pi.pub.refresh(pi)
	}
	return nil
}

// notify wakes a Next waiting for messages. It never blocks.
func (s *Sub) notify() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// Wake makes a Next in progress return soon with what it has (perhaps
// nothing); if none is, the next call may return at once. It never blocks.
func (s *Sub) Wake() {
	s.woken.Store(true)
	s.notify()
}

// Next returns what is queued: line events and messages, in the order
// they happened (a batch holds the events that come before its messages;
// an event after them waits for the next call). It waits until there is
// something, until deadline (zero: none) or until Wake, returning an empty
// batch then. The batch and the bytes it refers to stay valid until the
// next call. It returns ErrClosed once the Sub is closed.
func (s *Sub) Next(deadline time.Time) (*port.Batch, error) {
	s.releaseBatch()
	b := &s.batch
	for {
		took, err := s.take(b)
		if err != nil {
			return nil, err
		}
		if took {
			b.Time = time.Now()
			return b, nil
		}
		if s.woken.Swap(false) {
			return b, nil
		}
		var timeout <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return b, nil
			}
			s.wait.Reset(d)
			timeout = s.wait.C
		}
		select {
		case <-s.signal:
		case <-timeout:
		case <-s.closedCh:
		}
		s.wait.Stop()
	}
}

// releaseBatch lets go of what the last Next handed out: the buffers go
// back to their publishers' pools once every subscriber has let go of them.
func (s *Sub) releaseBatch() {
	for _, m := range s.outMeta {
		if m.buf != nil {
			m.buf.release(1)
		}
	}
	clear(s.outMeta)
	s.outMeta = s.outMeta[:0]
	clear(s.batch.Msgs)
	s.batch.Reset()
}

// take moves what is queued into b: the events that come first, then the
// messages up to the next event. When no event follows them, as is usual,
// the queue and the batch trade their storage: nothing is copied.
func (s *Sub) take(b *port.Batch) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, ErrClosed
	}
	i := 0
	for i < len(s.evs) && s.evs[i].at == 0 {
		b.Events = append(b.Events, s.evs[i].ev)
		i++
	}
	if i > 0 {
		k := copy(s.evs, s.evs[i:])
		clear(s.evs[k:])
		s.evs = s.evs[:k]
	}
	n := len(s.q.raws)
	if len(s.evs) > 0 {
		n = s.evs[0].at
	}
	switch {
	case n == 0:
	case n == len(s.q.raws):
		b.Msgs, s.q.raws = s.q.raws, b.Msgs[:0]
		s.outMeta, s.q.meta = s.q.meta, s.outMeta[:0]
		for _, pi := range s.pipes {
			pi.msgs, pi.bytes = 0, 0
		}
		s.orphanMsgs, s.orphanBytes = 0, 0
	case n > 0:
		b.Msgs = append(b.Msgs, s.q.raws[:n]...)
		s.outMeta = append(s.outMeta, s.q.meta[:n]...)
		for _, m := range s.q.meta[:n] {
			if m.pipe.closed {
				s.orphanMsgs--
				s.orphanBytes -= m.charge
			} else {
				m.pipe.msgs--
				m.pipe.bytes -= m.charge
			}
		}
		s.q.shift(n)
	}
	for j := range s.evs {
		s.evs[j].at -= n
	}
	return len(b.Msgs) > 0 || len(b.Events) > 0, nil
}

// shift drops the first n messages (taken: their references go with them).
func (q *queue) shift(n int) {
	k := copy(q.raws, q.raws[n:])
	clear(q.raws[k:])
	q.raws = q.raws[:k]
	copy(q.meta, q.meta[n:])
	clear(q.meta[k:])
	q.meta = q.meta[:k]
}

// addEvent queues a line event after the messages queued; s.mu is held. A
// pipe that connects and goes again with no message between says nothing:
// the pair is dropped, so that events stay bounded by messages however
// often publishers come and go.
func (s *Sub) addEvent(pi *pipe, ev port.LineEvent) {
	at := len(s.q.raws)
	if n := len(s.evs); ev.Kind == port.LineDown && n > 0 {
		if last := s.evs[n-1]; last.at == at && last.pipe == pi && last.ev.Kind == port.LineUp {
			s.evs[n-1] = pendingEvent{}
			s.evs = s.evs[:n-1]
			return
		}
	}
	s.evs = append(s.evs, pendingEvent{at: at, pipe: pi, ev: ev})
}

// detach disconnects pi: its publisher closed. What it queued stays, to be
// taken before the LineDown.
func (s *Sub) detach(pi *pipe, reason string) {
	s.mu.Lock()
	if pi.closed {
		s.mu.Unlock()
		return
	}
	pi.closed = true
	s.orphanMsgs += pi.msgs
	s.orphanBytes += pi.bytes
	pi.msgs, pi.bytes = 0, 0
	s.pipes = remove(s.pipes, pi)
	if !s.closed {
		s.addEvent(pi, port.LineEvent{Kind: port.LineDown, Detail: reason})
	}
	s.mu.Unlock()
	s.notify()
}

// reset disconnects pi and connects it again at once, dropping what it
// queued (counted), as zmtp cuts off a subscriber too slow to take even
// control messages: it rejoins each topic at the next message. s.mu is
// held.
func (s *Sub) reset(pi *pipe, why error) {
	lost := 0
	j, e := 0, 0
	for i := range s.q.raws {
		for e < len(s.evs) && s.evs[e].at == i {
			s.evs[e].at = j
			e++
		}
		if m := s.q.meta[i]; m.pipe == pi {
			if m.buf != nil {
				m.buf.release(1)
			}
			lost++
			continue
		}
		s.q.raws[j], s.q.meta[j] = s.q.raws[i], s.q.meta[i]
		j++
	}
	for ; e < len(s.evs); e++ {
		s.evs[e].at = j
	}
	clear(s.q.raws[j:])
	clear(s.q.meta[j:])
	s.q.raws, s.q.meta = s.q.raws[:j], s.q.meta[:j]
	pi.msgs, pi.bytes = 0, 0
	pi.dropped += uint64(lost)
	pi.pub.dropped.Add(uint64(lost))
	clear(pi.seen)
	s.addEvent(pi, port.LineEvent{Kind: port.LineDown, Detail: fmt.Sprintf("%s: %v", s.endpoint, why)})
	s.addEvent(pi, port.LineEvent{Kind: port.LineUp, Detail: pi.pub.endpoint})
}

// Close disconnects the Sub, makes a blocked Next return ErrClosed and
// frees the name if the Sub bound it. Messages still queued for it are
// dropped, and counted by their publishers. The last batch Next returned
// stays valid: its buffers are let go of by the next call to Next, or by
// the garbage collector.
func (s *Sub) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closedCh)
	pipes := s.pipes
	s.pipes = nil
	for _, pi := range pipes {
		pi.closed = true
	}
	for _, m := range s.q.meta {
		m.pipe.dropped++
		m.pipe.pub.dropped.Add(1)
		if m.buf != nil {
			m.buf.release(1)
		}
	}
	s.q, s.evs = queue{}, nil
	s.orphanMsgs, s.orphanBytes = 0, 0
	s.mu.Unlock()
	s.ns.removeSub(s)
	for _, pi := range pipes {
		pi.pub.removePipe(pi)
	}
	return nil
}
