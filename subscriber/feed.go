package subscriber

import (
	"fmt"
	"slices"
	"time"

	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/topic"
)

// Defaults.
const (
	// defaultStale is how long a line may be silent before it is stale,
	// until it advertises a heartbeat interval; then it is staleHeartbeats
	// intervals.
	defaultStale    = 3 * time.Second
	staleHeartbeats = 3
	// DefaultArbitration is how long, at most, ticks that arrived on one
	// line after a hole in it wait for another line of the same feed to
	// fill the hole. It costs nothing when no line loses anything, and
	// nothing with a single line.
	DefaultArbitration = 50 * time.Millisecond
	// DefaultMaxTopics bounds the topics a subscriber follows per session
	// (each costs about a kilobyte): beyond it, messages on new topics are
	// dropped and counted, and EventTopicLimit says so once per session.
	DefaultMaxTopics = 100_000
	// DefaultTopicIdle is how long a topic may go unheard (no data, no
	// heartbeat) before its state is forgotten, freeing its place under
	// the limit. Heard again later, it is joined afresh, as a late join.
	DefaultTopicIdle = 10 * time.Minute
)

// Plausibility bounds on what the wire claims. Anyone who can reach a line
// can send it messages; a buggy publisher can too. Numbers beyond these
// bounds are not believed: the message is dropped and counted, and the
// feed's state does not move.
const (
	// A line's stream sequence advances by one per message the publisher
	// sends: over an interval dt it cannot advance by more than
	// minStreamJump + maxMessageRate*dt, however much was lost.
	minStreamJump  = 1 << 20
	maxMessageRate = 10_000_000 // messages per second
	// A message holds at most maxTicksPerMessage ticks (a 16 MiB message
	// of 40-byte ticks holds 400,000; the publisher's batches 65,536): a
	// topic's sequence cannot advance by more than that per stream
	// sequence number.
	maxTicksPerMessage = 1 << 20
	// A publisher's heartbeat interval is within these.
	minHeartbeat = time.Millisecond
	maxHeartbeat = time.Hour
)

// feed is the subscriber's protocol logic, without I/O and without a clock:
// it takes messages, transport events and the time, and queues events.
// Subscriber feeds it from its sources; tests feed it directly.
//
// Lines that carry the same session are one feed (A/B redundancy): each tick
// is delivered once, from whichever line brings it first; a gap is reported
// only when no line can fill it. Each line also keeps its own position per
// topic, so that what each line lost is counted exactly, filled or not.
type feed struct {
	topics      *topic.Set
	staleAfter  time.Duration // 0: from the publisher's heartbeat interval
	arbitration time.Duration
	maxTopics   int
	maxHeld     int // ticks held behind holes across topics: maxHeldTotal
	topicIdle   time.Duration
	sweptAt     time.Time // when idle topics were last looked for
	lines       []*line
	sessions    map[uint64]*session
	waiting     []*topicState // topics with ticks held or a hole pending

	events []Event // queued events; events[head:] not yet delivered
	head   int
	ticks  []schema.Tick // storage for the Ticks of queued events
	msg    schema.Message

	ticksOut, gaps, missing, topicsExpired counter // the feed's own counters

	// Recovery (nil: off): the topics recovering, the requests to send.
	now        time.Time // the time of the message being handled
	snapshots  bool      // ask for a snapshot on joining a session (needs rec)
	rec        *recoveryConfig
	recLine    *line // the origin of recovered ticks
	recovering []*topicState
	requests   []recoveryRequest
	recID      uint64

	recoveredTicks, recoveries, unrecovered          counter
	recoverySkipped, recoveryLate, recoveryMalformed counter
	snapshotTopics, snapshotsStale, snapshotsFailed  counter
}

// line is the state of one source.
type line struct {
	endpoint  string
	session   *session // the session this line carries, nil before the first message
	join      uint64   // the stream sequence of the first message it had of the session
	maxStream uint64   // the highest stream sequence heard; 0: none since (re)connecting
	streamAt  time.Time
	topics    map[string]*lineTopic
	heartbeat time.Duration
	lastHeard time.Time
	stale     bool
	down      bool      // the transport lost its connection
	ended     bool      // the session ended: silence is expected
	state     LineState // as last published
	stats     lineCounters
}

// publishState makes the line's state visible to Stats, if it changed.
func (l *line) publishState() {
	st := LineActive
	switch {
	case l.ended: // a transport that goes away after the end is no news
		st = LineEnded
	case l.down:
		st = LineLost
	case l.stale:
		st = LineStale
	case l.session == nil:
		st = LineConnecting
	}
	if st != l.state {
		l.state = st
		l.stats.state.set(uint64(st))
	}
}

// lineTopic is where one line is in one topic's sequence.
type lineTopic struct {
	next       uint64 // the sequence number this line should bring next
	lastStream uint64 // the stream sequence of the last message it brought on the topic
	backwards  bool   // the line's sequence went back and has not caught up: reported once
	backRun    int    // messages in a row that carried the sequence on from where it went back
	backNext   uint64 // where the next of them would start
}

// session is one publisher session: the feed its lines carry.
type session struct {
	id      uint64
	lines   []*line
	join    uint64 // the earliest stream sequence any line had of the session
	ended   bool
	topics  map[string]*topicState
	atLimit bool          // EventTopicLimit was reported
	snap    *snapshotting // the snapshot asked for on joining, until it comes
}

func newFeed(topics *topic.Set, staleAfter, arbitration time.Duration) *feed {
	return &feed{topics: topics, staleAfter: staleAfter, arbitration: arbitration, sessions: make(map[uint64]*session),
		maxTopics: DefaultMaxTopics, maxHeld: maxHeldTotal, topicIdle: DefaultTopicIdle}
}

func (f *feed) addLine(endpoint string, now time.Time) *line {
	l := &line{endpoint: endpoint, lastHeard: now, topics: make(map[string]*lineTopic)}
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
func (f *feed) lineEvent(l *line, e LineEvent, now time.Time) {
	var kind EventKind
	switch e.Kind {
	case LineUp:
		kind = EventLineUp
		l.stats.connects.add(1)
		l.down = false
		l.maxStream = 0 // the publisher may have gone far meanwhile
	case LineDown:
		kind = EventLineDown
		l.stats.disconnects.add(1)
		l.down = true
		l.maxStream = 0
	case LineLoss:
		kind = EventLineLoss
		l.stats.transportLoss.add(e.Lost)
		l.maxStream = 0
	default:
		return
	}
	l.publishState()
	ev := Event{Kind: kind, Line: l.endpoint, Detail: e.Detail}
	if l.session != nil {
		ev.Session = l.session.id
	}
	f.emit(ev)
	if l.down {
		// A line that is down fills no hole, and ends no session: stop
		// waiting for it.
		f.resolveAll(now)
		if l.session != nil {
			f.maybeEnd(l.session, nil)
		}
	}
}

// maybeEnd reports the end of session s once every line that may carry it
// and can still speak (up, not stale) has said so: until then another line
// may still bring ticks that the first to end had lost. A line that has not
// heard any session yet may be the other line, lagging. The session's holes
// are settled first: the end comes after every tick and gap. by is the line
// whose news prompted the call, if any.
func (f *feed) maybeEnd(s *session, by *line) {
	if s.ended {
		return
	}
	ended := false
	for _, l := range f.lines {
		switch {
		case l.session != nil && l.session != s:
		case l.session == s && l.ended:
			ended = true
		case !l.down && !l.stale:
			return // it may still speak
		}
	}
	if !ended || s.snap != nil {
		return // no line said the session ended (it went silent: stale), or its snapshot is awaited
	}
	for _, t := range slices.Clone(f.waiting) {
		if t.session == s {
			f.resolve(t, t.since.Add(f.arbitration), nil) // nobody can fill it now
		}
	}
	for _, t := range f.recovering {
		if t.session == s {
			return // its ticks come before the end; recoveryDone calls again
		}
	}
	s.ended = true
	ev := Event{Kind: EventSessionEnd, Session: s.id}
	if by != nil {
		ev.Line = by.endpoint
	}
	f.emit(ev)
}

// message handles one raw message that line l received at recv.
func (f *feed) message(l *line, m *Raw, recv time.Time) {
	f.now = recv
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
	switch msg.Type {
	case schema.Heartbeat, schema.EndOfSession:
		if !control { // feed-wide messages travel on the control topic only
			l.stats.decodeErrors.add(1)
			return
		}
	case schema.Batch, schema.TopicHeartbeat:
		if control { // a topic's messages never do
			l.stats.decodeErrors.add(1)
			return
		}
	default:
		// Recovery requests, replies and snapshots are not a feed's: on
		// a line they are foreign, and change nothing.
		l.stats.decodeErrors.add(1)
		return
	}
	if !f.plausibleStream(l, msg, recv) {
		return
	}
	l.lastHeard = recv
	if l.stale {
		l.stale = false
		f.emit(Event{Kind: EventActive, Line: l.endpoint, Session: msg.Session})
	}
	s := f.attach(l, msg.Session)
	defer l.publishState()
	if l.join == 0 || msg.StreamSeq < l.join {
		l.join = msg.StreamSeq
	}
	if s.join == 0 || l.join < s.join {
		s.join = l.join
	}

	switch msg.Type { // each on its own kind of topic (above)
	case schema.Heartbeat:
		if msg.Heartbeat > 0 {
			if hb := time.Duration(msg.Heartbeat); hb >= minHeartbeat && hb <= maxHeartbeat {
				l.heartbeat = hb
			} else {
				l.stats.implausible.add(1) // the line keeps its stale timeout
			}
		}
	case schema.EndOfSession:
		l.ended = true
		f.resolveAll(recv) // this line brings nothing more: stop waiting for it
		f.maybeEnd(s, l)
	case schema.TopicHeartbeat:
		f.topicHeartbeat(l, s, m.Topic, &msg.Header, recv)
	case schema.Batch:
		f.batch(l, s, m.Topic, msg, recv)
	}
}

// plausibleStream reports whether msg's stream sequence is one the line's
// publisher can have reached since the line last heard it; a message that
// is not is dropped and counted, and changes nothing.
func (f *feed) plausibleStream(l *line, msg *schema.Message, recv time.Time) bool {
	if l.maxStream != 0 && l.session != nil && l.session.id == msg.Session && msg.StreamSeq > l.maxStream {
		dt := max(recv.Sub(l.streamAt), 0)
		limit := uint64(minStreamJump) + uint64(dt.Seconds()*maxMessageRate)
		if msg.StreamSeq-l.maxStream > limit {
			l.stats.implausible.add(1)
			return false
		}
	}
	if l.session == nil || l.session.id != msg.Session || msg.StreamSeq > l.maxStream {
		l.maxStream, l.streamAt = msg.StreamSeq, recv
	}
	return true
}

// plausibleJump reports whether a topic may go from lt.next to to in a
// message of stream sequence stream: by at most maxTicksPerMessage per
// stream sequence number since the line's last message on the topic.
func plausibleJump(lt *lineTopic, to, stream uint64) bool {
	if to <= lt.next || lt.lastStream == 0 {
		return true
	}
	if stream <= lt.lastStream {
		return false // the topic moved on in a message that came before its last one
	}
	d := stream - lt.lastStream
	return d >= (1<<64-1)/maxTicksPerMessage || to-lt.next <= d*maxTicksPerMessage
}

// attach makes l carry session id, reporting a session new to the feed.
func (f *feed) attach(l *line, id uint64) *session {
	if l.session != nil && l.session.id == id {
		return l.session
	}
	var prev uint64
	if old := l.session; old != nil {
		prev = old.id
		for i, m := range old.lines {
			if m == l {
				old.lines = append(old.lines[:i], old.lines[i+1:]...)
				break
			}
		}
		if len(old.lines) == 0 {
			f.dropSession(old)
		}
	}
	s := f.sessions[id]
	if s == nil {
		s = &session{id: id, topics: make(map[string]*topicState)}
		f.sessions[id] = s
		f.emit(Event{Kind: EventSessionStart, Line: l.endpoint, Session: id, PrevSession: prev})
		f.askSnapshot(s, f.now)
	}
	s.lines = append(s.lines, l)
	l.session, l.ended, l.join = s, false, 0
	clear(l.topics) // positions in the old session mean nothing in this one
	if prev != 0 {
		l.stats.restarts.add(1)
	}
	return s
}

// dropSession forgets a session no line carries any more.
func (f *feed) dropSession(s *session) {
	delete(f.sessions, s.id)
	f.recovering = slices.DeleteFunc(f.recovering, func(t *topicState) bool { return t.session == s })
	for i := 0; i < len(f.waiting); {
		if f.waiting[i].session == s {
			f.waiting[i] = f.waiting[len(f.waiting)-1]
			f.waiting = f.waiting[:len(f.waiting)-1]
			continue
		}
		i++
	}
}

// topic returns session s's state of topic name, heard at now, creating it
// if the session is under the topic limit; nil if it is not (the message is
// dropped and counted, and EventTopicLimit says so once).
func (f *feed) topic(l *line, s *session, name []byte, now time.Time) *topicState {
	t := s.topics[string(name)]
	if t == nil {
		if len(s.topics) >= f.maxTopics {
			l.stats.topicsRefused.add(1)
			if !s.atLimit {
				s.atLimit = true
				f.emit(Event{Kind: EventTopicLimit, Line: l.endpoint, Session: s.id,
					Detail: fmt.Sprintf("%d topics: messages on new topics are dropped until idle ones expire", len(s.topics))})
			}
			return nil
		}
		t = s.topic(name)
	}
	t.heard = now
	return t
}

// sweep forgets the topics idle for topicIdle, with nothing held or
// pending, looking at most ten times per topicIdle.
func (f *feed) sweep(now time.Time) {
	if f.topicIdle <= 0 || now.Sub(f.sweptAt) < f.topicIdle/10 {
		return
	}
	f.sweptAt = now
	for _, s := range f.sessions {
		for name, t := range s.topics {
			if now.Sub(t.heard) < f.topicIdle || len(t.held) > 0 || !t.since.IsZero() || t.rec != nil {
				continue
			}
			delete(s.topics, name)
			for _, l := range s.lines {
				delete(l.topics, name)
			}
			f.topicsExpired.add(1)
		}
		if len(s.topics) < f.maxTopics {
			s.atLimit = false
		}
	}
}

// forgetUnsubscribed forgets the topics no subscription matches any more,
// with what is held or pending for them: subscribed again, they are joined
// afresh.
func (f *feed) forgetUnsubscribed() {
	for _, s := range f.sessions {
		for name, t := range s.topics {
			if f.topics.Match(t.name) {
				continue
			}
			delete(s.topics, name)
			for _, l := range s.lines {
				delete(l.topics, name)
			}
			if i := slices.Index(f.waiting, t); i >= 0 {
				f.waiting = slices.Delete(f.waiting, i, i+1)
			}
			if i := slices.Index(f.recovering, t); i >= 0 {
				f.recovering = slices.Delete(f.recovering, i, i+1)
			}
		}
		if len(s.topics) < f.maxTopics {
			s.atLimit = false
		}
	}
}

// lineTopic returns l's position in topic, creating it (unstarted) if need be.
func (l *line) topic(name []byte) (lt *lineTopic, started bool) {
	if lt = l.topics[string(name)]; lt != nil {
		return lt, true
	}
	lt = &lineTopic{}
	l.topics[string(name)] = lt
	return lt, false
}

// inOrder appends msg's ticks to f.ticks and reports whether they are
// exactly the ones due next on the topic, on the line as in the feed, with
// nothing held; if not, it takes them back off.
func (f *feed) inOrder(t *topicState, lt *lineTopic, msg *schema.Message) bool {
	if len(t.held) > 0 || lt.next != t.next {
		return false
	}
	start := len(f.ticks)
	f.ticks = msg.AppendTicks(f.ticks)
	for i, tk := range f.ticks[start:] {
		if tk.Seq != t.next+uint64(i) {
			f.ticks = f.ticks[:start]
			return false
		}
	}
	return true
}

// joinTopic returns where a topic first heard in a message with the given
// predecessor starts: at first, or, when the topic's previous message was
// sent after join (so it was ours to get, and we did not get it), just after
// what preceded that message: the ticks it held are a hole. (Exact when one
// message was lost before the topic was first heard; a lower bound if more.)
func joinTopic(first, join uint64, h *schema.Header) uint64 {
	if h.PrevStreamSeq != 0 && h.PrevStreamSeq >= join && h.PrevTopicSeq+1 < first {
		return h.PrevTopicSeq + 1
	}
	return first
}

// batch takes the ticks of msg that line l brought on topic.
func (f *feed) batch(l *line, s *session, name []byte, msg *schema.Message, recv time.Time) {
	t := f.topic(l, s, name, recv)
	if t == nil {
		return
	}
	lt, lineStarted := l.topic(name)
	first := msg.Tick(0).Seq
	if !lineStarted {
		lt.next, lineStarted = joinTopic(first, l.join, &msg.Header), true
	} else if !plausibleJump(lt, first, msg.StreamSeq) {
		l.stats.implausible.add(1)
		return
	}
	if msg.StreamSeq > lt.lastStream {
		lt.lastStream = msg.StreamSeq
	}
	if s.snap != nil && !t.started {
		f.holdForSnapshot(l, s, t, lt, msg, origin{line: l, recv: recv, send: msg.SendTime, stream: msg.StreamSeq})
		return
	}
	if !t.started {
		// Late join: the topic starts at the first tick seen, unless its
		// previous message should have been heard; nothing before that was
		// ever ours to miss.
		t.started, t.next = true, joinTopic(first, s.join, &msg.Header)
	}
	if first < lt.next && !f.backwards(l, s, t, lt, msg) {
		return
	}
	run := len(f.ticks) // the run of ticks delivered straight from this message
	src := origin{line: l, recv: recv, send: msg.SendTime, stream: msg.StreamSeq}
	if f.inOrder(t, lt, msg) {
		// The common case, taken whole: the ticks are decoded once, straight
		// into the event's storage.
		n := uint64(msg.Len())
		t.next += n
		lt.next, lt.backwards = t.next, false
		l.stats.ticks.add(n)
		f.ticksOut.add(n)
		f.flushRun(t, src, run)
		return
	}
	// Counted locally and published once per message: a counter update is
	// an atomic store, too dear per tick.
	var delivered, dups uint64
	defer func() {
		l.stats.ticks.add(delivered)
		f.ticksOut.add(delivered)
		l.stats.duplicates.add(dups)
	}()
	for i := range msg.Len() {
		tick := msg.Tick(i)
		// The line's own sequence: what this line lost.
		if tick.Seq < lt.next {
			l.stats.backwards.add(1) // within a message: it overlaps the line's last
			continue
		}
		if tick.Seq > lt.next {
			l.stats.gaps.add(1)
			l.stats.missing.add(tick.Seq - lt.next)
		}
		lt.next, lt.backwards = tick.Seq+1, false
		// The feed's sequence: what the application gets.
		switch {
		case tick.Seq < t.next:
			dups++ // another line brought it first
		case tick.Seq == t.next:
			f.ticks = append(f.ticks, tick)
			t.next++
			delivered++
			if len(t.held) > 0 && t.held[0].tick.Seq == t.next {
				// It filled a hole: the held ticks behind it follow.
				f.flushRun(t, src, run)
				f.drain(t)
				run = len(f.ticks)
			}
		default:
			t.hold(tick, src)
		}
	}
	f.flushRun(t, src, run)
	if t.rec != nil {
		if over, why := f.overHeld(t); over {
			f.recoveryFailed(t, recv, why)
		}
	}
	f.resolve(t, recv, l)
}

// adoptBackwards is how many messages in a row must carry on a sequence
// that went back before the line follows it: one message (forged, say)
// cannot rewind a topic, and a topic cannot stay stuck ahead of its real
// sequence (after a forged first message, say) either.
const adoptBackwards = 3

// backwards handles a message whose ticks start behind where line l is on
// topic t. A line brings a topic in order: its sequence going back is a
// publisher's bug, two publishers sharing a session id, or forged messages.
// It is reported once (EventBackwards) and counted, and the message is not
// delivered; but once adoptBackwards messages in a row carry the sequence on
// from where it went back, that is the line's sequence: the line, and the
// topic if it was ahead of it, follow it from there. It reports whether to
// take the message.
func (f *feed) backwards(l *line, s *session, t *topicState, lt *lineTopic, msg *schema.Message) bool {
	first, last := msg.Tick(0).Seq, msg.Tick(msg.Len()-1).Seq
	if !lt.backwards {
		lt.backwards, lt.backRun = true, 0
		f.emit(Event{Kind: EventBackwards, Line: l.endpoint, Session: s.id, Topic: t.name,
			Gap: Gap{Expected: lt.next, Received: first}})
	}
	if lt.backRun > 0 && first == lt.backNext {
		lt.backRun++
	} else {
		lt.backRun = 1
	}
	lt.backNext = last + 1
	if lt.backRun < adoptBackwards {
		l.stats.backwards.add(uint64(msg.Len()))
		return false
	}
	lt.next, lt.backwards, lt.backRun = first, false, 0
	if t.next > first {
		// What was held beyond a hole belongs to the sequence given up.
		l.stats.backwards.add(uint64(len(t.held)))
		t.next, t.known = first, 0
		t.held = t.held[:0]
		f.settled(t)
	}
	return true
}

// topicHeartbeat takes a topic heartbeat: the topic's last sequence number.
func (f *feed) topicHeartbeat(l *line, s *session, name []byte, h *schema.Header, now time.Time) {
	last := h.TopicSeq
	if last == 1<<64-1 {
		l.stats.implausible.add(1)
		return
	}
	t := f.topic(l, s, name, now)
	if t == nil {
		return
	}
	lt, lineStarted := l.topic(name)
	if !lineStarted {
		lt.next = joinTopic(last+1, l.join, h)
	} else if !plausibleJump(lt, last+1, h.StreamSeq) {
		l.stats.implausible.add(1)
		return
	}
	if h.StreamSeq > lt.lastStream {
		lt.lastStream = h.StreamSeq
	}
	if last >= lt.next {
		l.stats.gaps.add(1)
		l.stats.missing.add(last + 1 - lt.next)
	}
	lt.next = max(lt.next, last+1)
	if !t.started && s.snap == nil {
		// Late join: the topic starts after the heartbeat's sequence,
		// unless its previous message should have been heard. (While a
		// snapshot is awaited, the snapshot says where it starts.)
		t.started, t.next = true, joinTopic(last+1, s.join, h)
	}
	if last+1 > t.known {
		t.known = last + 1
	}
	f.resolve(t, now, l)
}

// flushRun queues an EventTicks for the ticks f.ticks[run:], delivered
// straight from one message.
func (f *feed) flushRun(t *topicState, o origin, run int) {
	if len(f.ticks) == run {
		return
	}
	f.emit(o.event(t, f.ticks[run:len(f.ticks):len(f.ticks)]))
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

// timeout queues the events due at now: stale lines, and the gaps of holes
// no line filled within the arbitration window; it forgets idle topics.
func (f *feed) timeout(now time.Time) {
	f.sweep(now)
	if len(f.recovering) > 0 {
		f.expireRecoveries(now)
	}
	f.expireSnapshots(now)
	staled := false
	for _, l := range f.lines {
		if l.stale || l.ended {
			continue
		}
		if silent := now.Sub(l.lastHeard); silent >= f.stale(l) {
			l.stale, staled = true, true
			l.publishState()
			l.stats.stale.add(1)
			ev := Event{Kind: EventStale, Line: l.endpoint,
				Detail: fmt.Sprintf("nothing heard for %v", silent.Round(time.Millisecond))}
			if l.session != nil {
				ev.Session = l.session.id
			}
			f.emit(ev)
		}
	}
	if staled || len(f.waiting) > 0 {
		f.resolveAll(now)
	}
	if staled {
		for _, ss := range f.sessions {
			f.maybeEnd(ss, nil)
		}
	}
}

// deadline returns when timeout has something to do next (zero: never).
func (f *feed) deadline() time.Time {
	var d time.Time
	earliest := func(at time.Time) {
		if d.IsZero() || at.Before(d) {
			d = at
		}
	}
	for _, l := range f.lines {
		if !l.stale && !l.ended {
			earliest(l.lastHeard.Add(f.stale(l)))
		}
	}
	for _, t := range f.waiting {
		earliest(t.since.Add(f.arbitration))
	}
	for _, t := range f.recovering {
		earliest(t.rec.deadline)
	}
	for _, ss := range f.sessions {
		if ss.snap != nil {
			earliest(ss.snap.deadline)
		}
	}
	return d
}
