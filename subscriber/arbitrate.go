package subscriber

import (
	"bytes"
	"slices"
	"time"

	"github.com/tickcast/tickcast/schema"
)

// topicState is one topic of a session, as the application sees it.
type topicState struct {
	session *session
	name    []byte // owned: events about held ticks outlive the message bytes
	started bool
	next    uint64 // the sequence number due next
	// known bounds the sequence numbers known to exist (exclusive): a topic
	// heartbeat said the topic reached known-1. 0: nothing beyond held.
	known uint64
	held  []heldTick  // ticks beyond a hole, in sequence order
	since time.Time   // when the wait for the current hole began; zero: none
	heard time.Time   // when the topic was last heard, for idle expiry
	rec   *recovering // the recovery of its hole in progress, if any
}

// heldTick is a tick that arrived beyond a hole, with where it came from.
type heldTick struct {
	tick schema.Tick
	origin
}

// origin is the message a tick came in.
type origin struct {
	line   *line
	recv   time.Time
	send   int64
	stream uint64
}

func (o origin) event(t *topicState, ticks []schema.Tick) Event {
	return Event{
		Kind: EventTicks, Line: o.line.endpoint, Session: t.session.id,
		Topic: t.name, Ticks: ticks, StreamSeq: o.stream, SendTime: o.send, RecvTime: o.recv,
	}
}

// topic returns the session's state of topic name, creating it unstarted.
func (s *session) topic(name []byte) *topicState {
	if t := s.topics[string(name)]; t != nil {
		return t
	}
	t := &topicState{session: s, name: bytes.Clone(name)}
	s.topics[string(t.name)] = t
	return t
}

// hold keeps a tick that arrived beyond a hole, in order; a tick already
// held (brought by another line too) is a duplicate.
func (t *topicState) hold(tick schema.Tick, o origin) {
	i, found := slices.BinarySearchFunc(t.held, tick.Seq, func(h heldTick, seq uint64) int {
		switch {
		case h.tick.Seq < seq:
			return -1
		case h.tick.Seq > seq:
			return 1
		}
		return 0
	})
	if found {
		o.line.stats.duplicates.add(1)
		return
	}
	t.held = slices.Insert(t.held, i, heldTick{tick, o})
}

// drain delivers the held ticks that are due, grouped into one event per
// message they came in.
func (f *feed) drain(t *topicState) {
	n := 0
	for n < len(t.held) && t.held[n].tick.Seq <= t.next {
		h := &t.held[n]
		if h.tick.Seq < t.next {
			n++ // already delivered by another line meanwhile
			continue
		}
		run := len(f.ticks)
		o := h.origin
		for n < len(t.held) && t.held[n].tick.Seq == t.next && t.held[n].origin == o {
			f.ticks = append(f.ticks, t.held[n].tick)
			t.next++
			n++
		}
		o.line.stats.ticks.add(uint64(len(f.ticks) - run))
		f.ticksOut.add(uint64(len(f.ticks) - run))
		f.flushRun(t, o, run)
	}
	t.held = t.held[:copy(t.held, t.held[n:])]
}

// resolve settles topic t's hole, if it has one: it waits while another
// live line of the session could still fill it, within the arbitration
// window, and reports a gap when none can. by is the line whose news
// prompted the call (nil on a timeout).
func (f *feed) resolve(t *topicState, now time.Time, by *line) {
	for {
		f.drain(t)
		if t.rec != nil {
			return // recovering: recoveryReply settles the hole
		}
		target, heartbeat := uint64(0), false
		switch {
		case len(t.held) > 0:
			target = t.held[0].tick.Seq
		case t.known > t.next:
			target, heartbeat = t.known, true
		}
		if target == 0 {
			f.settled(t)
			return
		}
		if t.since.IsZero() {
			t.since = now
			f.waiting = append(f.waiting, t)
		}
		if now.Sub(t.since) < f.arbitration && f.mayFill(t) {
			return
		}
		// No line will bring t.next..target-1 (or none did in time): ask
		// the recovery service, if there is one.
		if f.startRecovery(t, target, now) {
			return
		}
		g := Gap{Expected: t.next, Received: target, Missing: target - t.next, Heartbeat: heartbeat}
		f.gaps.add(1)
		f.missing.add(g.Missing)
		ev := Event{Kind: EventGap, Session: t.session.id, Topic: t.name, Gap: g}
		if by != nil {
			ev.Line = by.endpoint
		}
		f.emit(ev)
		t.next = target
		f.settled(t) // the next hole, if any, waits afresh
	}
}

// settled ends t's wait for a hole.
func (f *feed) settled(t *topicState) {
	if t.since.IsZero() {
		return
	}
	t.since = time.Time{}
	if i := slices.Index(f.waiting, t); i >= 0 {
		f.waiting = slices.Delete(f.waiting, i, i+1)
	}
}

// mayFill reports whether a live line could still bring t.next: it is up,
// not stale, carries t's session and has not ended it (or has heard no
// session yet: it may be the other line, lagging), and is not past t.next on
// this topic (or has not carried the topic yet).
func (f *feed) mayFill(t *topicState) bool {
	for _, l := range f.lines {
		if l.down || l.stale || (l.session != nil && (l.session != t.session || l.ended)) {
			continue
		}
		lt := l.topics[string(t.name)]
		if lt == nil || lt.next <= t.next {
			return true
		}
	}
	return false
}

// resolveAll re-examines every waiting topic, after a line went down or
// stale, or at a timeout.
func (f *feed) resolveAll(now time.Time) {
	for _, t := range slices.Clone(f.waiting) {
		f.resolve(t, now, nil)
	}
}
