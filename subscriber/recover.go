package subscriber

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/schema"
)

// Recovery defaults.
const (
	// DefaultRecoveryTimeout is how long a recovery request may go
	// unanswered, from when it is sent, before it fails (and is tried on
	// the next service, or its range reported as a gap).
	DefaultRecoveryTimeout = 500 * time.Millisecond
	// RecoveryConnections is how many connections package tickcast's
	// WithRecovery and tickcast sub --recovery open to each recovery
	// service: a connection carries one request at a time, so up to that
	// many requests to a service are in flight at once.
	RecoveryConnections = 4
	// queueTimeouts bounds, in recovery timeouts, how long a request may
	// wait for a free connection while its service makes no progress (sends
	// no request, answers none): beyond, it fails as unsent (tried on the
	// next service, or its range reported), so that a stuck service cannot
	// hold a topic's ticks without end. A service that keeps answering
	// keeps its queue waiting: after a wide outage the last of a thousand
	// topics is asked for, not given up. maxQueueTimeouts bounds the wait
	// whatever the progress.
	queueTimeouts    = 4
	maxQueueTimeouts = 20
	// maxServices is how many services a request is tried on: the first,
	// then the next once if it failed.
	maxServices = 2
	// maxRecovering bounds the topics recovering at once: beyond, a hole
	// is reported as a gap at once, with the reason.
	maxRecovering = 1024
	// maxHeldPerTopic and maxHeldTotal bound the ticks held behind holes
	// being recovered; beyond, the recovery is given up (the range
	// reported as a gap) and what was held is delivered.
	maxHeldPerTopic = 1 << 17
	maxHeldTotal    = 1 << 21
)

// asking is a request the feed wants answered, through its attempts: each
// is queued for a service's connections, then sent by one of them. Its
// deadline runs from when it is queued (the queue bound) until it is sent,
// then from when it was sent (the timeout). An attempt that fails is tried
// once on the next service; each attempt has an id of its own, so that the
// answer to an attempt given up is known as late.
type asking struct {
	id       uint64    // the attempt in progress
	service  int       // the service it is for: 0, then 1
	sent     bool      // a connection has sent it
	queued   time.Time // when the attempt was queued
	deadline time.Time // unsent: when it is given up waiting; sent: unanswered
	failed   []failure // why the earlier attempts failed
}

// failure is why an attempt failed: not sent in time (queue), or what the
// client said, or no answer in time.
type failure struct {
	queue bool
	why   string
}

// failures says why every attempt failed, each after prefix ("recovery",
// say): "recovery: no answer within 500ms", "recovery queue: not sent
// within 2s", joined by "; ".
func failures(prefix string, fs []failure) string {
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(prefix)
		if f.queue {
			b.WriteString(" queue")
		}
		b.WriteString(": ")
		b.WriteString(f.why)
	}
	return b.String()
}

// recovering is a topic's recovery in progress: the range asked for.
type recovering struct {
	asking             // the request for t.next..to
	from, to uint64    // the range first asked for; t.next..to is still due
	started  time.Time // when the range was first asked for
	// heldChecked is how many ticks the topic held when the total held
	// across topics was last checked (overHeld).
	heldChecked int
	got         uint64 // ticks recovered so far
}

// recoveryRequest is a request the feed wants sent: the Subscriber sends
// it and brings the reply back to recoveryReply.
type recoveryRequest struct {
	id       uint64
	service  int       // the index of the service to ask
	notAfter time.Time // not to be sent from then on: the feed gave it up
	session  uint64
	topic    []byte // replay: the topic; snapshot: the cursor (topics after it)
	from, to uint64
	snapshot bool
	prefixes [][]byte // snapshot: the subscriptions (none: every topic)
}

// recoveryConfig turns recovery on in a feed.
type recoveryConfig struct {
	timeout  time.Duration // a request sent and unanswered for that long fails
	endpoint string        // named as the line of recovered ticks
	// services are the endpoints of the services, in the order they are
	// asked; only the first maxServices are. None: endpoint alone.
	services []string
}

// enableRecovery makes the feed ask for holes no line filled, instead of
// reporting them at once.
func (f *feed) enableRecovery(c recoveryConfig) {
	if len(c.services) == 0 {
		c.services = []string{c.endpoint}
	}
	c.services = c.services[:min(len(c.services), maxServices)]
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
	if len(f.recovering) >= maxRecovering || len(t.held) >= maxHeldPerTopic || f.heldTotal() >= f.maxHeld {
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

// ask queues a new request for t's remaining range, for the first service.
func (f *feed) ask(t *topicState, now time.Time) { f.askOf(t, 0, now) }

// askOf queues a new request for t's remaining range, for the given
// service first: a request that continues one (the next page after a
// partial reply, what a service holds after what it lacks) goes to the
// service that answered, not back to one that may have failed.
func (f *feed) askOf(t *topicState, service int, now time.Time) {
	t.rec.asking = asking{service: service}
	f.askAgain(t, now)
}

// askAgain queues an attempt at t's request for the service it is for.
func (f *feed) askAgain(t *topicState, now time.Time) {
	f.queue(&t.rec.asking, recoveryRequest{session: t.session.id, topic: t.name, from: t.next, to: t.rec.to}, now)
}

// queue queues r as a's next attempt, with an id of its own. It may wait
// for a connection until its queue deadline.
func (f *feed) queue(a *asking, r recoveryRequest, now time.Time) {
	f.recID++
	a.id, a.sent, a.queued, a.deadline = f.recID, false, now, now.Add(f.queueLimit())
	r.id, r.service, r.notAfter = a.id, a.service, now.Add(maxQueueTimeouts*f.rec.timeout)
	f.requests = append(f.requests, r)
}

// queueLimit is how long a request may wait unsent while its service makes
// no progress.
func (f *feed) queueLimit() time.Duration { return queueTimeouts * f.rec.timeout }

// recoverySent takes the news that the attempt id was sent at the given
// time: it has the timeout from then on to be answered. (A send is not
// progress: a stuck service takes requests and answers none.)
func (f *feed) recoverySent(id uint64, at time.Time) {
	if a := f.attempt(id); a != nil && !a.sent {
		a.sent, a.deadline = true, at.Add(f.rec.timeout)
	}
}

// progress notes that service answered a request at the given time: the
// requests waiting for it have queueLimit from then (up to
// maxQueueTimeouts from when they were queued).
func (f *feed) progress(service int, at time.Time) {
	extend := func(a *asking) {
		if a.sent || a.service != service {
			return
		}
		d := at.Add(f.queueLimit())
		if limit := a.queued.Add(maxQueueTimeouts * f.rec.timeout); limit.Before(d) {
			d = limit
		}
		if d.After(a.deadline) {
			a.deadline = d
		}
	}
	for _, t := range f.recovering {
		if t.rec != nil {
			extend(&t.rec.asking)
		}
	}
	for _, s := range f.sessions {
		if s.snap != nil {
			extend(&s.snap.asking)
		}
	}
}

// attempt returns the request whose attempt in progress is id: a topic's
// or a snapshot's; nil if it was given up or answered.
func (f *feed) attempt(id uint64) *asking {
	if t := f.recoveringTopic(id); t != nil {
		return &t.rec.asking
	}
	if s := f.snapshotSession(id); s != nil {
		return &s.snap.asking
	}
	return nil
}

// attemptFailed takes the failure of t's attempt (or the snapshot of s's):
// it is tried on the next service, once; after that, the recovery (or the
// wait for the snapshot) ends, saying why each attempt failed.
func (f *feed) attemptFailed(t *topicState, s *session, why failure, now time.Time) {
	var a *asking
	if t != nil {
		a = &t.rec.asking
	} else {
		a = &s.snap.asking
	}
	a.failed = append(a.failed, why)
	if a.service+1 < len(f.rec.services) {
		a.service++
		if t != nil {
			f.askAgain(t, now)
		} else {
			f.askSnapshotAgain(s, now)
		}
		return
	}
	if t != nil {
		f.recoveryFailed(t, now, failures("recovery", a.failed))
	} else {
		f.snapshotDone(s, now, failures("snapshot", a.failed))
	}
}

// expired says why a's attempt is given up at its deadline.
func (f *feed) expired(a *asking) failure {
	service := ""
	if len(f.rec.services) > 1 {
		service = f.rec.services[a.service] + ": "
	}
	if a.sent {
		return failure{why: fmt.Sprintf("%sno answer within %v", service, f.rec.timeout)}
	}
	return failure{queue: true, why: fmt.Sprintf("%snot sent within %v", service, f.queueLimit())}
}

// heldCheckEvery is how many more ticks a recovering topic holds before the
// total held across topics is counted again: the total may pass
// maxHeldTotal by at most that many per topic recovering.
const heldCheckEvery = 1024

// overHeld reports whether t, recovering, holds too many ticks: more than
// maxHeldPerTopic, or (counted every heldCheckEvery ticks it adds) more
// than maxHeldTotal across topics.
func (f *feed) overHeld(t *topicState) (bool, string) {
	n := len(t.held)
	if n > maxHeldPerTopic {
		return true, fmt.Sprintf("recovery: over %d ticks held behind the hole", maxHeldPerTopic)
	}
	if n < t.rec.heldChecked+heldCheckEvery {
		return false, ""
	}
	t.rec.heldChecked = n
	if f.heldTotal() > f.maxHeld {
		return true, fmt.Sprintf("recovery: over %d ticks held behind holes across topics", f.maxHeld)
	}
	return false, ""
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
	f.progress(t.rec.service, now)
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
		f.askOf(t, t.rec.service, now) // the rest, from where this reply ended
	case r.Status == schema.ReplyNotAvailable || r.Status == schema.ReplyPartial || r.Status == schema.ReplyOK:
		// What the service lacks is lost (the ticks held in it are not);
		// what it holds after that is asked for.
		upTo := rec.to + 1
		if r.Status == schema.ReplyNotAvailable && r.HeldFrom > t.next && r.HeldFrom <= rec.to {
			upTo = r.HeldFrom
		}
		f.unrecoverable(t, upTo, now, fmt.Sprintf("recovery: not available (the service holds %d-%d)", r.HeldFrom, r.HeldTo))
		if t.next <= rec.to && r.Status == schema.ReplyNotAvailable {
			f.askOf(t, t.rec.service, now)
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

// recoveryError takes an attempt that failed (no connection, no answer):
// it is tried on the next service, once.
func (f *feed) recoveryError(id uint64, err error, now time.Time) {
	if t := f.recoveringTopic(id); t != nil {
		f.attemptFailed(t, nil, failure{why: err.Error()}, now)
	} else if s := f.snapshotSession(id); s != nil {
		f.attemptFailed(nil, s, failure{why: err.Error()}, now)
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

// expireRecoveries fails the attempts past their deadline: unsent, or
// unanswered.
func (f *feed) expireRecoveries(now time.Time) {
	for _, t := range slices.Clone(f.recovering) {
		if t.rec != nil && !now.Before(t.rec.deadline) {
			f.attemptFailed(t, nil, f.expired(&t.rec.asking), now)
		}
	}
}

// dispatchRecovery hands the feed's requests to the connections of the
// service each is for; one that cannot be queued fails at once.
func (s *Subscriber) dispatchRecovery() {
	s.recReqs = s.feed.takeRequests(s.recReqs[:0])
	for _, r := range s.recReqs {
		select {
		case s.recQueues[r.service] <- r:
		default:
			s.feed.recoveryError(r.id, fmt.Errorf("%s: %w", s.feed.rec.services[r.service], errRecoveryQueue), time.Now())
		}
	}
	clear(s.recReqs)
}

var errRecoveryQueue = errors.New("too many requests queued")

// services groups the requesters by endpoint, in the order the endpoints
// first come: the connections to each service.
func services(reqs []port.Requester) [][]port.Requester {
	var out [][]port.Requester
	for _, r := range reqs {
		i := slices.IndexFunc(out, func(c []port.Requester) bool { return c[0].Endpoint() == r.Endpoint() })
		if i < 0 {
			out = append(out, nil)
			i = len(out) - 1
		}
		out[i] = append(out[i], r)
	}
	return out
}

// startRecoveryClient starts, for each service asked (the first
// maxServices), a dispatcher that takes requests from the service's queue,
// and a worker per connection.
func (s *Subscriber) startRecoveryClient() {
	for _, conns := range s.recServices[:min(len(s.recServices), maxServices)] {
		queue := make(chan recoveryRequest, maxRecovering)
		s.recQueues = append(s.recQueues, queue)
		idle := make(chan int, len(conns)) // a worker's index, when it is free
		var work []chan recoveryRequest
		for i, req := range conns {
			w := make(chan recoveryRequest, 1)
			work = append(work, w)
			s.pumps.Add(1)
			go s.recoveryWorker(req, w, idle, i)
		}
		s.pumps.Add(1)
		go s.recoveryDispatcher(queue, work, idle)
	}
}

// recoveryDispatcher hands each request of its service's queue to the free
// connection that comes first in the order they were given, waiting for
// one when all are busy: the later connections carry requests only when
// the earlier are busy (a burst), so that a subscriber whose holes come one
// at a time holds one connection to the service, not all of them (a
// service has a bounded number).
func (s *Subscriber) recoveryDispatcher(queue <-chan recoveryRequest, work []chan recoveryRequest, idle <-chan int) {
	defer s.pumps.Done()
	free := make([]bool, len(work))
	for i := range free {
		free[i] = true
	}
	for {
		var r recoveryRequest
		select {
		case r = <-queue:
		case <-s.done:
			return
		}
		for {
			for drained := false; !drained; { // the workers freed meanwhile
				select {
				case i := <-idle:
					free[i] = true
				default:
					drained = true
				}
			}
			if i := slices.Index(free, true); i >= 0 {
				free[i] = false
				work[i] <- r // never blocks: the worker is free, its channel empty
				break
			}
			select {
			case i := <-idle:
				free[i] = true
			case <-s.done:
				return
			}
		}
	}
}

// recoveryWorker sends the requests handed to it on its connection, one at
// a time: it tells Next when it sends one, whose timeout starts then, and
// hands the answer back, waking Next each time; then it says it is free. A
// request the feed gave up while it was queued is not sent.
func (s *Subscriber) recoveryWorker(req port.Requester, work <-chan recoveryRequest, idle chan<- int, index int) {
	defer s.pumps.Done()
	enc := schema.NewEncoder(256)
	for {
		var r recoveryRequest
		select {
		case r = <-work:
		case <-s.done:
			return
		}
		if sent := time.Now(); sent.Before(r.notAfter) {
			s.recoveryResult(recoveryResult{id: r.id, sent: sent})
			ctx, cancel := context.WithDeadline(s.recCtx, sent.Add(s.cfg.recTimeout+s.cfg.recTimeout/10))
			frames, err := req.Request(ctx, encodeRequest(enc, r))
			cancel()
			if err != nil {
				err = fmt.Errorf("%s: %w", req.Endpoint(), err)
			}
			s.recoveryResult(recoveryResult{id: r.id, frames: frames, err: err})
		}
		idle <- index // never blocks: room for every worker
	}
}

// recoveryResult hands res to Next, and wakes it.
func (s *Subscriber) recoveryResult(res recoveryResult) {
	s.recMu.Lock()
	s.recOut = append(s.recOut, res)
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

// encodeRequest encodes r as the service reads it.
func encodeRequest(enc *schema.Encoder, r recoveryRequest) []byte {
	q := schema.Request{Kind: schema.ReplayRequest, ID: r.id, Session: r.session, Topic: r.topic, From: r.from, To: r.to}
	if r.snapshot {
		q = schema.Request{Kind: schema.SnapshotRequest, ID: r.id, Session: r.session, Topic: r.topic, Prefixes: r.prefixes}
	}
	return enc.EncodeRequest(&q)
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
		case !res.sent.IsZero():
			s.feed.recoverySent(res.id, res.sent)
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
	asking           // the request for the page after cursor
	asked  time.Time // when it was first asked for
	cursor []byte    // topics after it, for the next page of a partial snapshot
	held   int       // ticks held for it, across topics, since it was asked for
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

// requestSnapshot queues a new request for s's snapshot, after its
// cursor, for the first service.
func (f *feed) requestSnapshot(s *session, now time.Time) {
	s.snap.asking = asking{}
	f.askSnapshotAgain(s, now)
}

// askSnapshotAgain queues an attempt at s's snapshot request for the
// service it is for.
func (f *feed) askSnapshotAgain(s *session, now time.Time) {
	prefixes := f.topics.Prefixes()
	if len(prefixes) > schema.MaxPrefixes || slices.ContainsFunc(prefixes, func(p []byte) bool { return len(p) == 0 }) {
		prefixes = nil // every topic; the feed filters
	}
	f.queue(&s.snap.asking, recoveryRequest{session: s.id, topic: s.snap.cursor, snapshot: true, prefixes: prefixes}, now)
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
		s.snap.held++
	}
	switch {
	case len(t.held) > maxHeldPerTopic:
		f.snapshotDone(s, f.now, fmt.Sprintf("snapshot: over %d ticks held waiting for it", maxHeldPerTopic))
	case s.snap.held > f.maxHeld:
		f.snapshotDone(s, f.now, fmt.Sprintf("snapshot: over %d ticks held waiting for it across topics", f.maxHeld))
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
	f.progress(s.snap.service, now)
	if r.Status != schema.ReplyOK && r.Status != schema.ReplyPartial {
		detail := r.Detail
		if detail == "" {
			detail = r.Status.String()
		}
		f.snapshotDone(s, now, "snapshot: "+detail)
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

// snapshotDone ends the wait for s's snapshot (detail says why it failed,
// if it did: "snapshot: ..."): topics it did not start start at their first
// tick held, and what was held follows.
func (f *feed) snapshotDone(s *session, now time.Time, detail string) {
	if s.snap == nil {
		return
	}
	s.snap = nil
	if detail != "" {
		f.snapshotsFailed.add(1)
		f.emit(Event{Kind: EventSnapshot, Session: s.id, Line: f.rec.endpoint, Detail: detail})
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

// expireSnapshots fails the snapshot attempts past their deadline: unsent,
// or unanswered.
func (f *feed) expireSnapshots(now time.Time) {
	for _, s := range f.sessions {
		if s.snap != nil && !now.Before(s.snap.deadline) {
			f.attemptFailed(nil, s, f.expired(&s.snap.asking), now)
		}
	}
}
