package subscriber

import (
	"fmt"
	"time"

	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/topic"
)

// defaultStale is how long a line may be silent before it is stale, until it
// advertises a heartbeat interval; then it is staleHeartbeats intervals.
const (
	defaultStale    = 3 * time.Second
	staleHeartbeats = 3
)

// feed is the subscriber's protocol logic, without I/O and without a clock:
// it takes messages and the time, and queues events. Subscriber feeds it
// from its sources; tests feed it directly.
type feed struct {
	topics     *topic.Set
	staleAfter time.Duration // 0: from the publisher's heartbeat interval
	lines      []*line
	sessions   map[uint64]*session

	events []Event // queued events; events[head:] not yet delivered
	head   int
	ticks  []schema.Tick // storage for the Ticks of queued events
	msg    schema.Message
}

// line is the state of one source.
type line struct {
	endpoint  string
	session   *session // the session this line carries, nil before the first message
	heartbeat time.Duration
	lastHeard time.Time
	stale     bool
	ended     bool // the session ended: silence is expected
	stats     lineCounters
}

// session is one publisher session: the feed its lines carry.
type session struct {
	id     uint64
	lines  int // lines carrying it
	ended  bool
	topics map[string]*topicState
}

type topicState struct {
	next uint64 // the sequence number due next
}

func newFeed(topics *topic.Set, staleAfter time.Duration) *feed {
	return &feed{topics: topics, staleAfter: staleAfter, sessions: make(map[uint64]*session)}
}

func (f *feed) addLine(endpoint string, now time.Time) *line {
	l := &line{endpoint: endpoint, lastHeard: now}
	f.lines = append(f.lines, l)
	return l
}

// pending reports whether events are queued.
func (f *feed) pending() bool { return f.head < len(f.events) }

// pop returns the oldest queued event. When the queue empties, its storage
// (and the ticks the events referred to) is reused.
func (f *feed) pop() Event {
	ev := f.events[f.head]
	f.events[f.head] = Event{}
	f.head++
	if f.head == len(f.events) {
		f.events, f.head, f.ticks = f.events[:0], 0, f.ticks[:0]
	}
	return ev
}

func (f *feed) emit(ev Event) { f.events = append(f.events, ev) }

// lineEvent handles a transport's report about line l.
func (f *feed) lineEvent(l *line, e LineEvent) {
	var kind EventKind
	switch e.Kind {
	case LineUp:
		kind = EventLineUp
		l.stats.connects.add(1)
	case LineDown:
		kind = EventLineDown
		l.stats.disconnects.add(1)
	case LineLoss:
		kind = EventLineLoss
		l.stats.transportLoss.add(e.Lost)
	default:
		return
	}
	ev := Event{Kind: kind, Line: l.endpoint, Detail: e.Detail}
	if l.session != nil {
		ev.Session = l.session.id
	}
	f.emit(ev)
}

// message handles one raw message that line l received at recv.
func (f *feed) message(l *line, m *Raw, recv time.Time) {
	l.stats.messages.add(1)
	l.stats.bytes.add(uint64(m.Size))
	control := string(m.Topic) == schema.ControlTopic
	if !control && !f.topics.Match(m.Topic) {
		// Transports that cannot filter upstream send everything.
		l.stats.filtered.add(1)
		return
	}
	if m.Frames != 2 {
		l.stats.decodeErrors.add(1)
		return
	}
	if err := f.msg.Decode(m.Body); err != nil {
		l.stats.decodeErrors.add(1)
		return
	}
	msg := &f.msg
	l.lastHeard = recv
	if l.stale {
		l.stale = false
		f.emit(Event{Kind: EventActive, Line: l.endpoint, Session: msg.Session})
	}
	s := f.attach(l, msg.Session)

	switch msg.Type {
	case schema.Heartbeat:
		if control && msg.Heartbeat > 0 {
			l.heartbeat = time.Duration(msg.Heartbeat)
		}
	case schema.EndOfSession:
		if control {
			l.ended = true
			if !s.ended {
				s.ended = true
				f.emit(Event{Kind: EventSessionEnd, Line: l.endpoint, Session: s.id})
			}
		}
	case schema.TopicHeartbeat:
		if control {
			return
		}
		t := s.topics[string(m.Topic)]
		if t == nil {
			// Late join: the topic starts after the heartbeat's sequence.
			s.topics[string(m.Topic)] = &topicState{next: msg.TopicSeq + 1}
			return
		}
		if msg.TopicSeq >= t.next {
			f.gap(l, s, m.Topic, t, msg.TopicSeq+1, true)
		}
	case schema.Batch:
		if control {
			l.stats.decodeErrors.add(1)
			return
		}
		f.batch(l, s, m.Topic, msg, recv)
	}
}

// attach makes l carry session id, reporting a session new to the feed.
func (f *feed) attach(l *line, id uint64) *session {
	if l.session != nil && l.session.id == id {
		return l.session
	}
	var prev uint64
	if old := l.session; old != nil {
		prev = old.id
		if old.lines--; old.lines == 0 {
			delete(f.sessions, old.id)
		}
	}
	s := f.sessions[id]
	if s == nil {
		s = &session{id: id, topics: make(map[string]*topicState)}
		f.sessions[id] = s
		f.emit(Event{Kind: EventSessionStart, Line: l.endpoint, Session: id, PrevSession: prev})
	}
	s.lines++
	l.session, l.ended = s, false
	if prev != 0 {
		l.stats.restarts.add(1)
	}
	return s
}

// batch delivers the ticks of msg that are new, in order, and reports gaps.
func (f *feed) batch(l *line, s *session, topic []byte, msg *schema.Message, recv time.Time) {
	t := s.topics[string(topic)]
	if t == nil {
		// Late join: the first tick seen starts the topic; nothing before
		// it was ever ours to miss.
		t = &topicState{next: msg.Tick(0).Seq}
		s.topics[string(topic)] = t
	}
	start := len(f.ticks)
	for i := range msg.Len() {
		tick := msg.Tick(i)
		switch {
		case tick.Seq < t.next:
			l.stats.duplicates.add(1)
			continue
		case tick.Seq > t.next:
			f.flushTicks(l, s, topic, msg, recv, start)
			f.gap(l, s, topic, t, tick.Seq, false)
			start = len(f.ticks)
		}
		f.ticks = append(f.ticks, tick)
		t.next = tick.Seq + 1
	}
	f.flushTicks(l, s, topic, msg, recv, start)
}

// flushTicks queues an EventTicks for f.ticks[start:], if any.
func (f *feed) flushTicks(l *line, s *session, topic []byte, msg *schema.Message, recv time.Time, start int) {
	if len(f.ticks) == start {
		return
	}
	ticks := f.ticks[start:len(f.ticks):len(f.ticks)]
	l.stats.ticks.add(uint64(len(ticks)))
	f.emit(Event{
		Kind: EventTicks, Line: l.endpoint, Session: s.id,
		Topic: topic, Ticks: ticks,
		StreamSeq: msg.StreamSeq, SendTime: msg.SendTime, RecvTime: recv,
	})
}

func (f *feed) gap(l *line, s *session, topic []byte, t *topicState, received uint64, heartbeat bool) {
	g := Gap{Expected: t.next, Received: received, Missing: received - t.next, Heartbeat: heartbeat}
	l.stats.gaps.add(1)
	l.stats.missing.add(g.Missing)
	t.next = received
	f.emit(Event{Kind: EventGap, Line: l.endpoint, Session: s.id, Topic: topic, Gap: g})
}

// stale returns how long l may be silent.
func (f *feed) stale(l *line) time.Duration {
	switch {
	case f.staleAfter > 0:
		return f.staleAfter
	case l.heartbeat > 0:
		return staleHeartbeats * l.heartbeat
	}
	return defaultStale
}

// timeout queues the stale events due at now.
func (f *feed) timeout(now time.Time) {
	for _, l := range f.lines {
		if l.stale || l.ended {
			continue
		}
		if silent := now.Sub(l.lastHeard); silent >= f.stale(l) {
			l.stale = true
			l.stats.stale.add(1)
			ev := Event{Kind: EventStale, Line: l.endpoint,
				Detail: fmt.Sprintf("nothing heard for %v", silent.Round(time.Millisecond))}
			if l.session != nil {
				ev.Session = l.session.id
			}
			f.emit(ev)
		}
	}
}

// deadline returns when the next stale check is due (zero: none).
func (f *feed) deadline() time.Time {
	var d time.Time
	for _, l := range f.lines {
		if l.stale || l.ended {
			continue
		}
		if at := l.lastHeard.Add(f.stale(l)); d.IsZero() || at.Before(d) {
			d = at
		}
	}
	return d
}
