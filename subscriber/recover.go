package subscriber

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tickcast/tickcast/schema"
)

// Recovery defaults.
const (
	// DefaultRecoveryTimeout is how long a recovery request may go
	// unanswered before its range is reported as a gap.
	DefaultRecoveryTimeout = 500 * time.Millisecond
	// maxRecovering bounds the topics recovering at once: beyond, a hole
	// is reported as a gap at once, with the reason.
	maxRecovering = 1024
	// maxHeldPerTopic and maxHeldTotal bound the ticks held behind holes
	// being recovered; beyond, the recovery is given up (the range
	// reported as a gap) and what was held is delivered.
	maxHeldPerTopic = 1 << 17
	maxHeldTotal    = 1 << 21
)

// recovering is a topic's recovery in progress: the range asked for.
type recovering struct {
	id       uint64    // the request in flight
	from, to uint64    // the range first asked for; t.next..to is still due
	started  time.Time // when the range was first asked for
	deadline time.Time // when the request in flight is given up
	got      uint64    // ticks recovered so far
}

// recoveryRequest is a request the feed wants sent: the Subscriber sends
// it and brings the reply back to recoveryReply.
type recoveryRequest struct {
	id       uint64
	session  uint64
	topic    []byte // replay: the topic; snapshot: the cursor (topics after it)
	from, to uint64
	snapshot bool
	prefixes [][]byte // snapshot: the subscriptions (none: every topic)
}

// recoveryConfig turns recovery on in a feed.
type recoveryConfig struct {
	timeout  time.Duration
	endpoint string // named as the line of recovered ticks
}

// enableRecovery makes the feed ask for holes no line filled, instead of
// reporting them at once.
func (f *feed) enableRecovery(c recoveryConfig) {
	f.rec = &c
	f.recLine = &line{endpoint: c.endpoint, topics: map[string]*lineTopic{}}
}

// startRecovery asks for t's hole up to the last tick known missing, and
// reports whether it did (it does not if too many topics recover already,
// or held ticks are over their bound).
func (f *feed) startRecovery(t *topicState, target uint64, now time.Time) bool {
	if f.rec == nil || t.rec != nil {
		return false
	}
	if len(f.recovering) >= maxRecovering || len(t.held) >= maxHeldPerTopic || f.heldTotal() >= maxHeldTotal {
		f.recoverySkipped.add(1)
		return false
	}
	// One request for every hole known on the topic: up to the end of the
	// last (a tick held beyond it, or known from a heartbeat). The ticks
	// held in between come back too and are dropped as duplicates: fewer
	// requests is worth it.
	top := target // the end (exclusive) of the last hole
	for i := 1; i < len(t.held); i++ {
		if t.held[i].tick.Seq > t.held[i-1].tick.Seq+1 {
			top = t.held[i].tick.Seq
		}
	}
	if n := len(t.held); t.known > top && (n == 0 || t.known > t.held[n-1].tick.Seq+1) {
		top = t.known
	}
	t.rec = &recovering{from: t.next, to: top - 1, started: now}
	f.recovering = append(f.recovering, t)
	f.settled(t)
	f.ask(t, now)
	return true
}

// ask queues the request for t's remaining range.
func (f *feed) ask(t *topicState, now time.Time) {
	f.recID++
	t.rec.id = f.recID
	t.rec.deadline = now.Add(f.rec.timeout)
	f.requests = append(f.requests, recoveryRequest{id: t.rec.id, session: t.session.id, topic: t.name,
		from: t.next, to: t.rec.to})
}

// heldTotal returns the ticks held across recovering topics.
func (f *feed) heldTotal() int {
	n := 0
	for _, t := range f.recovering {
		n += len(t.held)
	}
	return n
}

// takeRequests returns the requests to send, and forgets them.
func (f *feed) takeRequests(dst []recoveryRequest) []recoveryRequest {
	dst = append(dst, f.requests...)
	clear(f.requests)
	f.requests = f.requests[:0]
	return dst
}

// recoveringTopic returns the topic whose request in flight is id.
func (f *feed) recoveringTopic(id uint64) *topicState {
	for _, t := range f.recovering {
		if t.rec.id == id {
			return t
		}
	}
	return nil
}

// recoveryReply takes the answer to request id: the reply frame decoded,
// and the bodies of the messages after it. Ticks due are delivered in
// order; the rest of the range is asked for again (a partial reply), or
// reported as a gap with the reason (not available, an error). A reply to
// a request given up is dropped.
func (f *feed) recoveryReply(id uint64, r *schema.Reply, bodies [][]byte, now time.Time) {
	t := f.recoveringTopic(id)
	if t == nil {
		f.recoveryLate.add(1)
		return
	}
	rec := t.rec
	if r.Session != 0 && r.Session != t.session.id && r.Status != schema.ReplyUnknownSession {
		f.recoveryFailed(t, now, fmt.Sprintf("recovery: answered for session %016x", r.Session))
		return
	}
	start, run := t.next, len(f.ticks)
	var m schema.Message
	for _, body := range bodies {
		if m.Decode(body) != nil || (m.Type != schema.Batch) || m.Session != t.session.id {
			f.recoveryMalformed.add(1)
			continue
		}
		for i := range m.Len() {
			if tk := m.Tick(i); tk.Seq == t.next && tk.Seq <= rec.to {
				f.ticks = append(f.ticks, tk)
				t.next++
			}
		}
	}
	if got := t.next - start; got > 0 {
		rec.got += got
		f.recoveredTicks.add(got)
		f.ticksOut.add(got)
		f.recLine.stats.ticks.add(got)
		// EventRecovered comes before the ticks, as a gap does.
		f.emit(Event{Kind: EventRecovered, Session: t.session.id, Topic: t.name, Line: f.rec.endpoint,
			Gap:  Gap{Expected: start, Received: t.next, Missing: got},
			Took: now.Sub(rec.started), Detail: fmt.Sprintf("%d ticks recovered in %v", got, now.Sub(rec.started).Round(time.Microsecond))})
		f.flushRun(t, origin{line: f.recLine, recv: now}, run)
	}
	f.recoveries.add(1)
	switch {
	case t.next > rec.to:
		f.recoveryDone(t, now)
	case r.Status == schema.ReplyPartial && t.next > start:
		f.ask(t, now) // the rest, from where this reply ended
	case r.Status == schema.ReplyNotAvailable || r.Status == schema.ReplyPartial || r.Status == schema.ReplyOK:
		// What the service lacks is lost (the ticks held in it are not);
		// what it holds after that is asked for.
		upTo := rec.to + 1
		if r.Status == schema.ReplyNotAvailable && r.HeldFrom > t.next && r.HeldFrom <= rec.to {
			upTo = r.HeldFrom
		}
		f.unrecoverable(t, upTo, now, fmt.Sprintf("recovery: not available (the service holds %d-%d)", r.HeldFrom, r.HeldTo))
		if t.next <= rec.to && r.Status == schema.ReplyNotAvailable {
			f.ask(t, now)
		} else {
			f.recoveryDone(t, now)
		}
	default:
		detail := r.Detail
		if detail == "" {
			detail = r.Status.String()
		}
		f.recoveryFailed(t, now, "recovery: "+detail)
	}
}

// recoveryError takes a request that failed (no answer, no service).
func (f *feed) recoveryError(id uint64, err error, now time.Time) {
	if t := f.recoveringTopic(id); t != nil {
		f.recoveryFailed(t, now, fmt.Sprintf("recovery: %v", err))
	}
	if s := f.snapshotSession(id); s != nil {
		f.snapshotDone(s, now, err.Error())
	}
}

// recoveryFailed reports what remains of t's range as a gap, and ends the
// recovery.
func (f *feed) recoveryFailed(t *topicState, now time.Time, reason string) {
	f.unrecoverable(t, t.rec.to+1, now, reason)
	f.recoveryDone(t, now)
}

// unrecoverable gives up t.next..upTo-1: the ticks held in it are
// delivered, and each run of the others is reported as a gap that recovery
// could not fill, with the reason.
func (f *feed) unrecoverable(t *topicState, upTo uint64, now time.Time, reason string) {
	for {
		f.drain(t)
		if t.next >= upTo {
			return
		}
		end := upTo
		if len(t.held) > 0 && t.held[0].tick.Seq < end {
			end = t.held[0].tick.Seq
		}
		g := Gap{Expected: t.next, Received: end, Missing: end - t.next}
		f.gaps.add(1)
		f.missing.add(g.Missing)
		f.unrecovered.add(g.Missing)
		f.emit(Event{Kind: EventGap, Session: t.session.id, Topic: t.name, Gap: g, Detail: reason})
		t.next = end
	}
}

// recoveryDone ends t's recovery: the ticks held behind it follow, and a
// hole beyond them is settled afresh.
func (f *feed) recoveryDone(t *topicState, now time.Time) {
	t.rec = nil
	if i := slices.Index(f.recovering, t); i >= 0 {
		f.recovering = slices.Delete(f.recovering, i, i+1)
	}
	f.resolve(t, now, nil)
	if t.rec == nil {
		f.maybeEnd(t.session, nil) // the end may have waited for this
	}
}

// expireRecoveries gives up the requests unanswered past their deadline.
func (f *feed) expireRecoveries(now time.Time) {
	for _, t := range slices.Clone(f.recovering) {
		if t.rec != nil && !now.Before(t.rec.deadline) {
			f.recoveryFailed(t, now, fmt.Sprintf("recovery: no answer within %v", f.rec.timeout))
		}
	}
}

// dispatchRecovery hands the feed's requests to the client goroutine; one
// that cannot be queued is reported at once.
func (s *Subscriber) dispatchRecovery() {
	s.recReqs = s.feed.takeRequests(s.recReqs[:0])
	for _, r := range s.recReqs {
		select {
		case s.recIn <- r:
		default:
			s.feed.recoveryError(r.id, errRecoveryQueue, time.Now())
		}
	}
	clear(s.recReqs)
}

var errRecoveryQueue = errors.New("too many requests queued")

// recoveryClient sends the recovery requests, one at a time, and hands the
// answers back to Next, waking it.
func (s *Subscriber) recoveryClient() {
	defer s.pumps.Done()
	enc := schema.NewEncoder(256)
	for {
		var r recoveryRequest
		select {
		case r = <-s.recIn:
		case <-s.done:
			return
		}
		frames, err := s.request(enc, r)
		s.recMu.Lock()
		s.recOut = append(s.recOut, recoveryResult{id: r.id, frames: frames, err: err})
		s.recMu.Unlock()
		s.recReady.Store(true)
		select {
		case s.recSignal <- struct{}{}:
		default:
		}
		for _, src := range s.cfg.sources {
			src.Wake() // one source is read in Next's goroutine: wake it
		}
	}
}

// request asks the services for r: the first, then, if it fails, the
// next one once.
func (s *Subscriber) request(enc *schema.Encoder, r recoveryRequest) ([][]byte, error) {
	q := schema.Request{Kind: schema.ReplayRequest, ID: r.id, Session: r.session, Topic: r.topic, From: r.from, To: r.to}
	if r.snapshot {
		q = schema.Request{Kind: schema.SnapshotRequest, ID: r.id, Session: r.session, Topic: r.topic, Prefixes: r.prefixes}
	}
	body := enc.EncodeRequest(&q)
	var errs []error
	for i, req := range s.cfg.requesters {
		if i > 1 {
			break
		}
		ctx, cancel := context.WithTimeout(s.recCtx, s.cfg.recTimeout)
		frames, err := req.Request(ctx, body)
		cancel()
		if err == nil {
			return frames, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", req.Endpoint(), err))
	}
	return nil, errors.Join(errs...)
}

// applyRecovery gives the feed the answers that came back.
func (s *Subscriber) applyRecovery() {
	s.recMu.Lock()
	out := s.recOut
	s.recOut = nil
	s.recReady.Store(false)
	s.recMu.Unlock()
	now := time.Now()
	var m schema.Message
	for _, res := range out {
		switch {
		case res.err != nil:
			s.feed.recoveryError(res.id, res.err, now)
		case len(res.frames) == 0 || m.Decode(res.frames[0]) != nil || m.Type != schema.RecoveryReply || m.Reply.ID != res.id:
			s.feed.recoveryMalformed.add(1)
			s.feed.recoveryError(res.id, errors.New("malformed reply"), now)
		case s.feed.snapshotSession(res.id) != nil:
			s.feed.snapshotReply(res.id, &m.Reply, res.frames[1:], now)
		default:
			var bodies [][]byte
			for i := 2; i < len(res.frames); i += 2 {
				bodies = append(bodies, res.frames[i])
			}
			s.feed.recoveryReply(res.id, &m.Reply, bodies, now)
		}
	}
}

// snapshotting is a session's snapshot, asked for when the feed joined it.
type snapshotting struct {
	id       uint64    // the request in flight
	asked    time.Time // when it was first asked for
	deadline time.Time
	cursor   []byte // topics after it, for the next page of a partial snapshot
}

// askSnapshot asks for the last value of every subscribed topic of a
// session the feed just joined; until it comes, ticks of topics not yet
// started are held.
func (f *feed) askSnapshot(s *session, now time.Time) {
	if !f.snapshots || f.rec == nil {
		return
	}
	s.snap = &snapshotting{asked: now}
	f.requestSnapshot(s, now)
}

func (f *feed) requestSnapshot(s *session, now time.Time) {
	f.recID++
	s.snap.id, s.snap.deadline = f.recID, now.Add(f.rec.timeout)
	prefixes := f.topics.Prefixes()
	if len(prefixes) > schema.MaxPrefixes || slices.ContainsFunc(prefixes, func(p []byte) bool { return len(p) == 0 }) {
		prefixes = nil // every topic; the feed filters
	}
	f.requests = append(f.requests, recoveryRequest{id: s.snap.id, session: s.id, topic: s.snap.cursor,
		snapshot: true, prefixes: prefixes})
}

// snapshotSession returns the session whose snapshot request is id.
func (f *feed) snapshotSession(id uint64) *session {
	for _, s := range f.sessions {
		if s.snap != nil && s.snap.id == id {
			return s
		}
	}
	return nil
}

// holdForSnapshot holds a message's ticks for a topic not started while
// the session's snapshot is awaited, keeping the line's own count.
func (f *feed) holdForSnapshot(l *line, s *session, t *topicState, lt *lineTopic, msg *schema.Message, o origin) {
	for i := range msg.Len() {
		tick := msg.Tick(i)
		if tick.Seq < lt.next {
			l.stats.backwards.add(1)
			continue
		}
		if tick.Seq > lt.next {
			l.stats.gaps.add(1)
			l.stats.missing.add(tick.Seq - lt.next)
		}
		lt.next = tick.Seq + 1
		t.hold(tick, o)
	}
	if len(t.held) > maxHeldPerTopic {
		f.snapshotDone(s, f.now, fmt.Sprintf("over %d ticks held waiting for it", maxHeldPerTopic))
	}
}

// snapshotReply takes the answer to snapshot request id: pairs [topic,
// body] after the reply frame. Each topic subscribed and not yet ahead of
// it starts at its snapshot: an EventSnapshot, then the ticks after it;
// held ticks at or below it are dropped.
func (f *feed) snapshotReply(id uint64, r *schema.Reply, pairs [][]byte, now time.Time) {
	s := f.snapshotSession(id)
	if s == nil {
		f.recoveryLate.add(1)
		return
	}
	if r.Status != schema.ReplyOK && r.Status != schema.ReplyPartial {
		detail := r.Detail
		if detail == "" {
			detail = r.Status.String()
		}
		f.snapshotDone(s, now, detail)
		return
	}
	var m schema.Message
	for i := 0; i+1 < len(pairs); i += 2 {
		name, body := pairs[i], pairs[i+1]
		if m.Decode(body) != nil || m.Type != schema.Snapshot || m.Session != s.id || m.Len() != 1 {
			f.recoveryMalformed.add(1)
			continue
		}
		if !f.topics.Match(name) {
			continue
		}
		t := f.topic(f.recLine, s, name, now)
		if t == nil {
			continue
		}
		tick := m.Tick(0)
		if t.started && t.next > tick.Seq+1 {
			f.snapshotsStale.add(1) // the topic is past it already
			continue
		}
		t.started, t.next = true, tick.Seq+1
		run := len(f.ticks)
		f.ticks = append(f.ticks, tick)
		f.snapshotTopics.add(1)
		f.emit(Event{Kind: EventSnapshot, Session: s.id, Topic: t.name, Line: f.rec.endpoint,
			Ticks: f.ticks[run:len(f.ticks):len(f.ticks)], StreamSeq: m.StreamSeq, RecvTime: now})
	}
	if r.Status == schema.ReplyPartial && len(pairs) > 0 {
		s.snap.cursor = append(s.snap.cursor[:0], r.Topic...)
		f.requestSnapshot(s, now)
		return
	}
	f.snapshotDone(s, now, "")
}

// snapshotDone ends the wait for s's snapshot (reason says why it failed,
// if it did): topics it did not start start at their first tick held, and
// what was held follows.
func (f *feed) snapshotDone(s *session, now time.Time, reason string) {
	if s.snap == nil {
		return
	}
	s.snap = nil
	if reason != "" {
		f.snapshotsFailed.add(1)
		f.emit(Event{Kind: EventSnapshot, Session: s.id, Line: f.rec.endpoint, Detail: "snapshot: " + reason})
	}
	// The held ticks follow in the order they came, topic by topic.
	var held []*topicState
	for _, t := range s.topics {
		if len(t.held) > 0 {
			held = append(held, t)
		}
	}
	slices.SortFunc(held, func(a, b *topicState) int { return cmp.Compare(a.held[0].stream, b.held[0].stream) })
	for _, t := range held {
		if !t.started {
			t.started, t.next = true, t.held[0].tick.Seq
		}
		f.resolve(t, now, nil)
	}
	f.maybeEnd(s, nil)
}

// expireSnapshots gives up the snapshots unanswered past their deadline.
func (f *feed) expireSnapshots(now time.Time) {
	for _, s := range f.sessions {
		if s.snap != nil && !now.Before(s.snap.deadline) {
			f.snapshotDone(s, now, fmt.Sprintf("no answer within %v", f.rec.timeout))
		}
	}
}
