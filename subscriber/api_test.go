package subscriber

// Specifications of the Subscriber's calls: Next's context, Unsubscribe and
// Event.Clone. The sources are the in-memory fakes of subscriber_test.go
// (chanSource, which lets the test decide what a line brings and when), so
// every test knows exactly what the subscriber has read.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tickcast/tickcast/internal/ctxtest"
	"github.com/tickcast/tickcast/schema"
)

// safety bounds each wait for an event. It is a safety net, not a means of
// synchronisation: an event that does not come fails the test instead of
// hanging it. In a synctest bubble it is fake time, so it costs nothing.
const safety = 10 * time.Second

// nextEvent returns the next event of one of kinds, skipping the others
// (session starts, say), and fails the test if none comes within safety.
func nextEvent(t *testing.T, s *Subscriber, kinds ...EventKind) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	for {
		ev, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %v: Next = %v", kinds, err)
		}
		if slices.Contains(kinds, ev.Kind) {
			return ev
		}
	}
}

// expectTicks reads up to the next EventTicks or EventGap and fails unless
// it is ticks on topic with exactly the sequence numbers seqs: neither a gap
// nor ticks of another topic may come first.
func expectTicks(t *testing.T, s *Subscriber, topic string, seqs ...uint64) Event {
	t.Helper()
	ev := nextEvent(t, s, EventTicks, EventGap)
	if ev.Kind != EventTicks || string(ev.Topic) != topic || !slices.Equal(seqsOf(ev.Ticks), seqs) {
		t.Fatalf("got %s, want ticks %s %v", describe(ev), topic, seqs)
	}
	return ev
}

func seqsOf(ticks []schema.Tick) []uint64 {
	var out []uint64
	for _, tk := range ticks {
		out = append(out, tk.Seq)
	}
	return out
}

func describe(ev Event) string {
	switch ev.Kind {
	case EventTicks:
		return fmt.Sprintf("ticks %s %v", ev.Topic, seqsOf(ev.Ticks))
	case EventGap:
		return fmt.Sprintf("gap %s %d..%d", ev.Topic, ev.Gap.Expected, ev.Gap.Received-1)
	}
	return ev.Kind.String()
}

// rawTicks is one message of ticks on topic from session, as a line brings it.
func rawTicks(enc *schema.Encoder, session uint64, topic string, seqs ...uint64) Raw {
	var ticks []schema.Tick
	for _, s := range seqs {
		ticks = append(ticks, schema.Tick{Seq: s, Price: int64(s) * 100})
	}
	body := append([]byte(nil), enc.Encode(schema.Header{Type: schema.Batch, Session: session}, ticks)...)
	return Raw{Topic: []byte(topic), Body: body, Frames: 2, Size: len(body)}
}

// pushRaw sends messages to the subscriber as one batch of the line.
func (c *chanSource) pushRaw(msgs ...Raw) {
	c.in <- &Batch{Time: time.Now(), Msgs: msgs}
}

// subscriptions returns what the source has been asked for.
func (c *chanSource) subscriptions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.subs)
}

func newSubscriber(t *testing.T, opts ...Option) *Subscriber {
	t.Helper()
	s, err := New(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sourcesCases runs f with one source (read by Next itself, woken through
// Source.Wake) and with two (read by pump goroutines that Next selects on):
// the two ways Next waits. f makes its sources with newSources, inside its
// synctest bubble if it has one (a channel made outside a bubble is not one
// the bubble can see blocked on).
func sourcesCases(t *testing.T, f func(t *testing.T, newSources func() []*chanSource)) {
	for _, n := range []int{1, 2} {
		name := map[int]string{1: "one source", 2: "two sources"}[n]
		t.Run(name, func(t *testing.T) {
			f(t, func() []*chanSource {
				var srcs []*chanSource
				for _, ep := range []string{"a", "b"}[:n] {
					srcs = append(srcs, newChanSource(ep))
				}
				return srcs
			})
		})
	}
}

func asSources(srcs []*chanSource) []Source {
	var out []Source
	for _, c := range srcs {
		out = append(out, c)
	}
	return out
}

// A Next waiting on silent lines returns the context's error as soon as the
// context is cancelled (not ErrClosed: the subscriber is not closed), and
// the subscriber carries on: the next Next delivers what comes afterwards.
func TestNextReturnsWhenItsContextIsCancelledAndTheSubscriberCarriesOn(t *testing.T) {
	sourcesCases(t, func(t *testing.T, newSources func() []*chanSource) {
		synctest.Test(t, func(t *testing.T) {
			srcs := newSources()
			s := newSubscriber(t, WithSource(asSources(srcs)...), WithStaleAfter(time.Hour))
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error)
			go func() {
				ev, err := s.Next(ctx)
				if err == nil {
					t.Errorf("Next returned %v, not an error", ev.Kind)
				}
				errc <- err
			}()
			synctest.Wait() // Next is blocked: the lines are silent
			cancelled := time.Now()
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) || errors.Is(err, ErrClosed) {
				t.Fatalf("Next after cancel = %v, want context.Canceled", err)
			}
			// In the bubble, time moves only when everything waits on it:
			// a Next that missed the cancellation would have waited for
			// its next timer (the stale timeout, an hour), then seen the
			// context done. Prompt is no time at all.
			if waited := time.Since(cancelled); waited != 0 {
				t.Fatalf("Next returned %v after the cancellation: it waited for a timer", waited)
			}
			srcs[0].push(schema.NewEncoder(0), 7, "X", 1)
			expectTicks(t, s, "X", 1)
		})
	})
}

// A context deadline ends a Next on silent lines with
// context.DeadlineExceeded, and the subscriber carries on.
func TestNextReturnsDeadlineExceededAtItsContextsDeadline(t *testing.T) {
	sourcesCases(t, func(t *testing.T, newSources func() []*chanSource) {
		synctest.Test(t, func(t *testing.T) {
			srcs := newSources()
			s := newSubscriber(t, WithSource(asSources(srcs)...), WithStaleAfter(time.Hour))
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			if ev, err := s.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Next = %v, %v; want context.DeadlineExceeded", ev.Kind, err)
			}
			// Not a timing assertion: only that the deadline, not the
			// stale timer an hour away, ended the wait (a Next blind
			// to its deadline would return the same error, an hour of
			// fake time later).
			if waited := time.Since(start); waited >= time.Hour {
				t.Fatalf("Next returned after %v: the deadline did not end the wait", waited)
			}
			srcs[len(srcs)-1].push(schema.NewEncoder(0), 7, "X", 1)
			expectTicks(t, s, "X", 1)
		})
	})
}

// Next looks at its context only when it must wait: what it has already
// read (events queued, the rest of the batch in hand) is delivered even with
// a context that is done, and nothing more is read from the line; the next
// Next with a live context carries on from there. A cancelled context thus
// never loses or reorders anything.
func TestNextWithADoneContextDeliversWhatIsAlreadyReadAndReadsNothingMore(t *testing.T) {
	src := newChanSource("a")
	s := newSubscriber(t, WithSource(src), WithStaleAfter(time.Hour))
	enc := schema.NewEncoder(0)
	// One batch of two messages, then another batch behind it.
	src.pushRaw(rawTicks(enc, 7, "X", 1, 2), rawTicks(enc, 7, "Y", 1))
	src.push(enc, 7, "Z", 1)
	// The first message yields two events: the session's start, returned,
	// and X's ticks, queued.
	if ev := nextEvent(t, s, EventSessionStart, EventTicks); ev.Kind != EventSessionStart {
		t.Fatalf("first event %s, want the session start", describe(ev))
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, want := range []struct {
		topic string
		seqs  []uint64
	}{{"X", []uint64{1, 2}}, {"Y", []uint64{1}}} {
		ev, err := s.Next(done)
		if err != nil || ev.Kind != EventTicks || string(ev.Topic) != want.topic || !slices.Equal(seqsOf(ev.Ticks), want.seqs) {
			t.Fatalf("Next(done context) = %s, %v; want ticks %s %v, already read", describe(ev), err, want.topic, want.seqs)
		}
	}
	if _, err := s.Next(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next(done context) with nothing read = %v, want context.Canceled", err)
	}
	if len(src.in) != 1 {
		t.Fatalf("%d batches left in the line, want the second one untouched", len(src.in))
	}
	expectTicks(t, s, "Z", 1)
}

// registrations is a context that is never done and counts every
// context.AfterFunc registered on it, on top of those still registered
// (ctxtest.AfterFuncCounter).
type registrations struct {
	*ctxtest.AfterFuncCounter
	total atomic.Int64
}

func newRegistrations() *registrations {
	return &registrations{AfterFuncCounter: ctxtest.NewAfterFuncCounter()}
}

func (r *registrations) AfterFunc(f func()) func() bool {
	r.total.Add(1)
	return r.AfterFuncCounter.AfterFunc(f)
}

// Next may be called with the same cancellable context for every event (a
// context for the reading loop): that costs at most one context.AfterFunc
// registration, not one per call, or a busy feed would pay for one per
// event and a leak would pile them up. Another context replaces it, and
// Close leaves none behind.
func TestNextRegistersOneAfterFuncPerContextNotPerCall(t *testing.T) {
	sourcesCases(t, func(t *testing.T, newSources func() []*chanSource) {
		srcs := newSources()
		s := newSubscriber(t, WithSource(asSources(srcs)...), WithStaleAfter(time.Hour))
		enc := schema.NewEncoder(0)
		first, second := newRegistrations(), newRegistrations()
		next := func(ctx context.Context) Event {
			t.Helper()
			ev, err := s.Next(ctx) // never done: the tick is pushed first
			if err != nil {
				t.Fatal(err)
			}
			return ev
		}
		for seq := uint64(1); seq <= 100; seq++ {
			srcs[0].push(enc, 7, "X", seq)
			for {
				if next(first).Kind == EventTicks {
					break
				}
			}
		}
		if n, live := first.total.Load(), first.Live(); n > 1 || live > 1 {
			t.Fatalf("100 calls of Next with one context registered %d AfterFuncs (%d still), want at most 1", n, live)
		}
		srcs[0].push(enc, 7, "X", 101)
		next(second)
		if first.Live() != 0 || second.Live() > 1 {
			t.Fatalf("after Next with another context: %d left on the first, %d on the second; want 0 and at most 1",
				first.Live(), second.Live())
		}
		s.Close()
		if second.Live() != 0 {
			t.Fatalf("%d AfterFuncs left registered after Close", second.Live())
		}
	})
}

// Unsubscribe is passed on to every line, so that transports that filter
// upstream (ZeroMQ) stop sending the topic; the control topic stays.
func TestUnsubscribeIsPassedToEverySource(t *testing.T) {
	a, b := newChanSource("a"), newChanSource("b")
	s := newSubscriber(t, WithSource(a, b), WithTopics("AA", "MS"))
	if err := s.Unsubscribe("AA"); err != nil {
		t.Fatal(err)
	}
	want := []string{"MS", schema.ControlTopic}
	if got := a.subscriptions(); !slices.Equal(got, want) {
		t.Errorf("line a subscribed to %q, want %q", got, want)
	}
	if got := b.subscriptions(); !slices.Equal(got, want) {
		t.Errorf("line b subscribed to %q, want %q", got, want)
	}
}

// A line that cannot filter (PGM delivers everything) keeps bringing an
// unsubscribed topic: the subscriber filters it out itself, and counts it.
func TestUnsubscribedTopicIsNotDeliveredEvenIfALineBringsIt(t *testing.T) {
	src := newChanSource("a")
	s := newSubscriber(t, WithSource(src), WithTopics("AA", "MS"), WithStaleAfter(time.Hour))
	enc := schema.NewEncoder(0)
	src.push(enc, 7, "AAPL", 1)
	expectTicks(t, s, "AAPL", 1)
	if err := s.Unsubscribe("AA"); err != nil {
		t.Fatal(err)
	}
	src.push(enc, 7, "AAPL", 2)
	src.push(enc, 7, "MSFT", 1)
	expectTicks(t, s, "MSFT", 1) // AAPL 2, before it, is not delivered
	if st := s.Stats(); st.Total.Filtered != 1 || st.Total.Ticks != 2 {
		t.Fatalf("filtered %d, delivered %d: want AAPL 2 filtered out, 2 ticks delivered", st.Total.Filtered, st.Total.Ticks)
	}
}

// Subscriptions are counted, as ZeroMQ's are: a prefix subscribed twice
// (WithTopics and Subscribe) needs two Unsubscribes to go.
func TestSubscriptionsAreCountedAndEachUnsubscribeUndoesOne(t *testing.T) {
	src := newChanSource("a")
	s := newSubscriber(t, WithSource(src), WithTopics("AA", "MS"), WithStaleAfter(time.Hour))
	enc := schema.NewEncoder(0)
	if err := s.Subscribe("AA"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unsubscribe("AA"); err != nil {
		t.Fatal(err)
	}
	src.push(enc, 7, "AAPL", 1)
	expectTicks(t, s, "AAPL", 1) // still subscribed once
	if err := s.Unsubscribe("AA"); err != nil {
		t.Fatal(err)
	}
	src.push(enc, 7, "AAPL", 2)
	src.push(enc, 7, "MSFT", 1)
	expectTicks(t, s, "MSFT", 1) // not any more
	if got, want := src.subscriptions(), []string{"MS", schema.ControlTopic}; !slices.Equal(got, want) {
		t.Fatalf("line subscribed to %q, want %q", got, want)
	}
}

// A topic unsubscribed and subscribed again is joined afresh, as at the
// start: the ticks published while it was not subscribed were given up, not
// lost, and are not reported as a gap. This holds whether or not Next ran
// between the two calls: what the application sees must not depend on when
// it happened to read.
func TestResubscribedTopicIsJoinedAfreshWithoutAGap(t *testing.T) {
	for _, readBetween := range []bool{true, false} {
		name := map[bool]string{true: "Next between", false: "no Next between"}[readBetween]
		t.Run(name, func(t *testing.T) {
			src := newChanSource("a")
			s := newSubscriber(t, WithSource(src), WithTopics("AA", "MS"), WithStaleAfter(time.Hour))
			enc := schema.NewEncoder(0)
			src.push(enc, 7, "AAPL", 1, 2)
			expectTicks(t, s, "AAPL", 1, 2)
			if err := s.Unsubscribe("AA"); err != nil {
				t.Fatal(err)
			}
			if readBetween {
				// The line still brings 3 (a PGM line would), and
				// MSFT after it tells that it has been read.
				src.push(enc, 7, "AAPL", 3)
				src.push(enc, 7, "MSFT", 1)
				expectTicks(t, s, "MSFT", 1)
			}
			if err := s.Subscribe("AA"); err != nil {
				t.Fatal(err)
			}
			// 3 to 8 were published while the topic was not subscribed.
			src.push(enc, 7, "AAPL", 9)
			expectTicks(t, s, "AAPL", 9)
			if st := s.Stats(); st.Gaps != 0 || st.Missing != 0 {
				t.Fatalf("stats report %d gaps, %d missing; want none", st.Gaps, st.Missing)
			}
		})
	}
}

// With two lines of one feed, ticks that came on one line beyond a hole
// wait for the other line to fill it. If the topic is unsubscribed
// meanwhile, they are dropped: neither delivered later (when the other line
// brings the missing tick, or the topic is subscribed again) nor reported
// as a gap.
func TestUnsubscribeDropsTicksHeldBehindAHole(t *testing.T) {
	a, b := newChanSource("a"), newChanSource("b")
	// Arbitration and stale timeouts beyond the test: only the lines'
	// messages move anything.
	s := newSubscriber(t, WithSource(a, b), WithTopics("X", "MA", "MB"),
		WithArbitration(time.Hour), WithStaleAfter(time.Hour))
	enc := schema.NewEncoder(0)
	a.push(enc, 7, "X", 1)
	expectTicks(t, s, "X", 1)
	// Line a lost 2: its 3 and 4 are held, as line b may bring 2. MA 1, on
	// the same line, comes out once they have been read.
	a.push(enc, 7, "X", 3, 4)
	a.push(enc, 7, "MA", 1)
	expectTicks(t, s, "MA", 1)
	if err := s.Unsubscribe("X"); err != nil {
		t.Fatal(err)
	}
	// Line b brings the missing 2, then MB 1: nothing of X comes out.
	b.push(enc, 7, "X", 2)
	b.push(enc, 7, "MB", 1)
	expectTicks(t, s, "MB", 1)
	// Subscribed again, X starts afresh where the line is: 3 and 4 are not
	// delivered, and what the topic skipped is no gap.
	if err := s.Subscribe("X"); err != nil {
		t.Fatal(err)
	}
	a.push(enc, 7, "X", 10)
	expectTicks(t, s, "X", 10)
	if st := s.Stats(); st.Gaps != 0 || st.Ticks != 4 {
		t.Fatalf("stats: %d gaps, %d ticks delivered; want 0 gaps and 4 ticks (X 1, MA 1, MB 1, X 10)", st.Gaps, st.Ticks)
	}
}

// Subscribe and Unsubscribe on a closed subscriber return ErrClosed.
func TestSubscriptionChangesAfterCloseAreErrClosed(t *testing.T) {
	s := newSubscriber(t, WithSource(newChanSource("a")))
	s.Close()
	if err := s.Subscribe("X"); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want ErrClosed", err)
	}
	if err := s.Unsubscribe("X"); !errors.Is(err, ErrClosed) {
		t.Errorf("Unsubscribe after Close = %v, want ErrClosed", err)
	}
}

// An event's Topic and Ticks are views into the subscriber's buffers, which
// the next Next reuses; a clone owns copies, which outlive it.
func TestClonedEventSurvivesTheNextCall(t *testing.T) {
	src := newChanSource("a")
	s := newSubscriber(t, WithSource(src), WithStaleAfter(time.Hour))
	enc := schema.NewEncoder(0)
	src.pushRaw(rawTicks(enc, 7, "AAPL", 1, 2, 3))
	src.pushRaw(rawTicks(enc, 7, "MSFT", 7, 8, 9))
	ev := expectTicks(t, s, "AAPL", 1, 2, 3)
	kept := ev.Clone()
	if &kept.Topic[0] == &ev.Topic[0] || &kept.Ticks[0] == &ev.Ticks[0] {
		t.Fatal("the clone shares the event's buffers")
	}
	expectTicks(t, s, "MSFT", 7, 8, 9) // reuses the buffers ev points into
	if string(kept.Topic) != "AAPL" || !slices.Equal(seqsOf(kept.Ticks), []uint64{1, 2, 3}) ||
		kept.Ticks[2].Price != 300 {
		t.Fatalf("clone after the next Next: %s %v, want AAPL [1 2 3]", kept.Topic, kept.Ticks)
	}
	if kept.Kind != ev.Kind || kept.Session != ev.Session || kept.Line != ev.Line || !kept.RecvTime.Equal(ev.RecvTime) {
		t.Fatalf("clone %+v differs from the event %+v beyond its buffers", kept, ev)
	}
	// Events without buffers clone to events without buffers.
	if c := (Event{Kind: EventStale, Line: "a"}).Clone(); c.Topic != nil || c.Ticks != nil || c.Line != "a" {
		t.Fatalf("clone of a stale event: %+v", c)
	}
}

// When the context given to Next is the subscriber's own, its end closes
// the subscriber, and Next says so the same way whichever noticed first:
// ErrClosed, wrapping the context's cause.
func TestNextWithTheSubscribersOwnContextReturnsErrClosed(t *testing.T) {
	for range 200 {
		ctx, cancel := context.WithCancel(context.Background())
		s, err := New(ctx, WithSource(newChanSource("a")))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := s.Next(ctx); done <- err }()
		cancel()
		if err := <-done; !errors.Is(err, ErrClosed) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Next: %v, want ErrClosed wrapping context.Canceled", err)
		}
		s.Close()
	}
}

// seqSource brings, at every Next, one message with the next tick of topic
// A, at once: a feed that never waits.
type seqSource struct {
	busySource
	enc *schema.Encoder
	seq uint64
	tk  [1]schema.Tick
}

func (q *seqSource) Next(time.Time) (*Batch, error) {
	q.seq++
	q.tk[0].Seq = q.seq
	body := q.enc.Encode(schema.Header{Type: schema.Batch, Session: 1, StreamSeq: q.seq}, q.tk[:])
	q.batch.Msgs[0].Body, q.batch.Msgs[0].Size = body, len(body)+1
	q.batch.Time = time.Now()
	return &q.batch, nil
}

// Reading with a context that can be cancelled costs no allocation per
// event once the context is watched.
func TestNextWithACancellableContextAllocatesNothingPerEvent(t *testing.T) {
	src := &seqSource{busySource: *newBusySource(), enc: schema.NewEncoder(256)}
	s, err := New(context.Background(), WithSource(src))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	next := func() {
		for {
			ev, err := s.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind == EventTicks {
				return
			}
		}
	}
	next()
	if n := testing.AllocsPerRun(1000, next); n != 0 {
		t.Fatalf("%v allocations per Next", n)
	}
}

// Snapshots and recovery messages belong to the recovery protocol, not to a
// line: on a line they are foreign, counted, and change nothing (a forged
// one cannot start a session or move a sequence).
func TestRecoveryMessagesOnALineAreForeign(t *testing.T) {
	src := newChanSource("a")
	s, err := New(context.Background(), WithSource(src))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	enc := schema.NewEncoder(256)
	for _, typ := range []schema.MessageType{schema.Snapshot, schema.RecoveryReply} {
		body := append([]byte(nil), enc.Encode(schema.Header{Type: typ, Session: 9, StreamSeq: 1 << 40}, []schema.Tick{{Seq: 1 << 40}})...)
		src.in <- &Batch{Time: time.Now(), Msgs: []Raw{{Topic: []byte("AAPL"), Body: body, Frames: 2, Size: len(body)}}}
	}
	src.push(enc, 9, "AAPL", 1)
	ev := nextKind(t, s, EventSessionStart, EventTicks)
	if ev.Kind != EventSessionStart {
		t.Fatalf("first event %v", ev.Kind)
	}
	if ev = nextKind(t, s, EventTicks, EventGap); ev.Kind != EventTicks || ev.Ticks[0].Seq != 1 {
		t.Fatalf("then %v %v", ev.Kind, ev.Ticks)
	}
	if st := s.Stats(); st.Total.DecodeErrors != 2 || st.Total.Implausible != 0 {
		t.Fatalf("stats %+v", st.Total)
	}
}

// A feed handler's log shows the troubles of its lines, with the line's
// endpoint and index and the session as attributes: a line going down at
// Warn, and gaps at Warn, each at most once every ten seconds (a line's
// troubles per line) with the count of the others.
func TestTroublesAreLoggedWithTheLineAndSession(t *testing.T) {
	var logs bytes.Buffer
	el := newEventLog(slog.New(slog.NewJSONHandler(&logs, nil)), []string{"tcp://a:1", "tcp://b:2"})
	for range 3 { // a flapping line: logged once
		el.event(&Event{Kind: EventLineDown, Line: "tcp://b:2", Session: 0xab, Detail: "connection reset"})
	}
	for i := range 5 {
		el.event(&Event{Kind: EventGap, Line: "tcp://a:1", Session: 0xab, Topic: []byte("AAPL"),
			Gap: Gap{Expected: uint64(10 * i), Received: uint64(10*i + 2), Missing: 2}})
	}
	el.event(&Event{Kind: EventSessionStart, Line: "tcp://a:1", Session: 0xab}) // Debug: not shown
	var recs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		recs = append(recs, m)
	}
	if len(recs) != 2 {
		t.Fatalf("want the line down and one gap logged, got:\n%s", logs.String())
	}
	down, gap := recs[0], recs[1]
	if down["level"] != "WARN" || down["endpoint"] != "tcp://b:2" || down["line"] != 1.0 || down["session"] != "00000000000000ab" {
		t.Errorf("line down: %v", down)
	}
	if gap["level"] != "WARN" || gap["topic"] != "AAPL" || gap["missing"] != 2.0 || gap["gaps_since_logged"] != 1.0 {
		t.Errorf("gap: %v", gap)
	}
	// Ten seconds on, the next gap is logged with the four not logged.
	el.gaps.Reset()
	el.event(&Event{Kind: EventGap, Line: "tcp://a:1", Session: 0xab, Topic: []byte("MSFT"), Gap: Gap{Expected: 1, Received: 4, Missing: 3}})
	if !strings.Contains(logs.String(), `"gaps_since_logged":5,"missing_since_logged":11`) {
		t.Errorf("the next gap logged does not count the others:\n%s", logs.String())
	}
}
