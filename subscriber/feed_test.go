package subscriber

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/topic"
)

// feedTest drives a feed the way a Subscriber does, with a fake clock, and
// renders the events it queues as short strings.
type feedTest struct {
	t   *testing.T
	f   *feed
	enc *schema.Encoder
	now time.Time
	seq uint64 // stream sequence
}

func newFeedTest(t *testing.T, staleAfter time.Duration, prefixes ...string) *feedTest {
	var set topic.Set
	for _, p := range prefixes {
		set.Add([]byte(p))
	}
	ft := &feedTest{t: t, enc: schema.NewEncoder(0), now: time.Unix(1_700_000_000, 0)}
	ft.f = newFeed(&set, staleAfter, DefaultArbitration)
	return ft
}

func (ft *feedTest) line(name string) *line { return ft.f.addLine(name, ft.now) }

func (ft *feedTest) advance(d time.Duration) []string {
	ft.now = ft.now.Add(d)
	ft.f.timeout(ft.now)
	return ft.drain()
}

// send delivers one message on l and returns the events it caused.
func (ft *feedTest) send(l *line, topic string, h schema.Header, seqs ...uint64) []string {
	ft.seq++
	h.StreamSeq = ft.seq
	var ticks []schema.Tick
	for _, s := range seqs {
		ticks = append(ticks, schema.Tick{Seq: s, Price: int64(s) * 10})
	}
	body := ft.enc.Encode(h, ticks)
	ft.f.message(l, &Raw{Topic: []byte(topic), Body: body, Frames: 2, Size: len(topic) + len(body)}, ft.now)
	return ft.drain()
}

// rawBatch encodes a batch message (the caller delivers it).
func rawBatch(ft *feedTest, session uint64, topic string, seqs ...uint64) *Raw {
	var ticks []schema.Tick
	for _, s := range seqs {
		ticks = append(ticks, schema.Tick{Seq: s})
	}
	body := append([]byte(nil), ft.enc.Encode(schema.Header{Type: schema.Batch, Session: session, StreamSeq: ft.seq}, ticks)...)
	return &Raw{Topic: []byte(topic), Body: body, Frames: 2, Size: len(topic) + len(body)}
}

func (ft *feedTest) batch(l *line, session uint64, topic string, seqs ...uint64) []string {
	return ft.send(l, topic, schema.Header{Type: schema.Batch, Session: session}, seqs...)
}

func (ft *feedTest) topicHeartbeat(l *line, session uint64, topic string, last uint64) []string {
	return ft.send(l, topic, schema.Header{Type: schema.TopicHeartbeat, Session: session, TopicSeq: last})
}

func (ft *feedTest) control(l *line, typ schema.MessageType, session uint64, hb time.Duration) []string {
	return ft.send(l, schema.ControlTopic, schema.Header{Type: typ, Session: session, Heartbeat: int64(hb)})
}

func (ft *feedTest) drain() []string {
	var out []string
	for ft.f.pending() {
		out = append(out, render(ft.f.pop()))
	}
	return out
}

func render(ev Event) string {
	switch ev.Kind {
	case EventTicks:
		var seqs []string
		for _, t := range ev.Ticks {
			seqs = append(seqs, fmt.Sprint(t.Seq))
		}
		return fmt.Sprintf("ticks %s %s", ev.Topic, strings.Join(seqs, ","))
	case EventGap:
		how := "seq"
		if ev.Gap.Heartbeat {
			how = "hb"
		}
		return fmt.Sprintf("gap %s %d..%d missing %d by %s", ev.Topic, ev.Gap.Expected, ev.Gap.Received-1, ev.Gap.Missing, how)
	case EventSessionStart:
		if ev.PrevSession != 0 {
			return fmt.Sprintf("restart %d->%d", ev.PrevSession, ev.Session)
		}
		return fmt.Sprintf("session %d", ev.Session)
	case EventSessionEnd:
		return fmt.Sprintf("end %d", ev.Session)
	case EventBackwards:
		return fmt.Sprintf("backwards %s %d->%d", ev.Line, ev.Gap.Expected, ev.Gap.Received)
	case EventSnapshot:
		if len(ev.Topic) == 0 {
			return "no snapshot: " + ev.Detail
		}
		return fmt.Sprintf("snapshot %s %d", ev.Topic, ev.Ticks[0].Seq)
	default:
		return fmt.Sprintf("%s %s", ev.Kind, ev.Line)
	}
}

func expect(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n  got  %q\n  want %q", got, want)
	}
}

func TestLateJoinStartsAtTheFirstTickSeen(t *testing.T) {
	ft := newFeedTest(t, 0, "")
	a := ft.line("A")
	expect(t, ft.batch(a, 7, "AAPL", 50, 51, 52), "session 7", "ticks AAPL 50,51,52")
	expect(t, ft.batch(a, 7, "AAPL", 53), "ticks AAPL 53")
	// Another topic joins later, at its own position: no gap either.
	expect(t, ft.batch(a, 7, "MSFT", 900), "ticks MSFT 900")
	// A topic first heard through its heartbeat starts after it.
	expect(t, ft.topicHeartbeat(a, 7, "GOOG", 30))
	expect(t, ft.batch(a, 7, "GOOG", 31), "ticks GOOG 31")
}

func TestGapsAreReportedExactly(t *testing.T) {
	ft := newFeedTest(t, 0, "")
	a := ft.line("A")
	ft.batch(a, 7, "AAPL", 1, 2, 3)
	expect(t, ft.batch(a, 7, "AAPL", 10, 11), "gap AAPL 4..9 missing 6 by seq", "ticks AAPL 10,11")
	expect(t, ft.batch(a, 7, "AAPL", 12), "ticks AAPL 12")
	// The last ticks before a quiet period are lost: the topic heartbeat
	// tells how far the topic went.
	expect(t, ft.topicHeartbeat(a, 7, "AAPL", 15), "gap AAPL 13..15 missing 3 by hb")
	// Heartbeats that tell nothing new are silent.
	expect(t, ft.topicHeartbeat(a, 7, "AAPL", 15))
	expect(t, ft.topicHeartbeat(a, 7, "AAPL", 9))
	expect(t, ft.batch(a, 7, "AAPL", 16), "ticks AAPL 16")
	if s := a.stats.snapshot("A"); s.Gaps != 2 || s.Missing != 9 || s.Ticks != 7 {
		t.Fatalf("stats %+v: want 2 gaps, 9 missing, 7 ticks", s)
	}
}

func TestGapInsideOneBatchKeepsOrder(t *testing.T) {
	// tickcast publishers never send this, but a batch is untrusted input.
	ft := newFeedTest(t, 0, "")
	a := ft.line("A")
	ft.batch(a, 7, "X", 1)
	expect(t, ft.batch(a, 7, "X", 2, 3, 7, 8), "ticks X 2,3", "gap X 4..6 missing 3 by seq", "ticks X 7,8")
}

// A line brings each topic in order: ticks it brings again are its
// sequence going back (a publisher's bug, two publishers sharing a session,
// forged messages). They are not delivered, and that is reported, once
// until the line is past where it was.
func TestALineGoingBackIsReportedNotDelivered(t *testing.T) {
	ft := newFeedTest(t, 0, "")
	a := ft.line("A")
	ft.batch(a, 7, "X", 1, 2, 3)
	expect(t, ft.batch(a, 7, "X", 2, 3), "backwards A 4->2")
	expect(t, ft.batch(a, 7, "X", 4), "ticks X 4")
	expect(t, ft.batch(a, 7, "X", 1), "backwards A 5->1")
	if n, d := a.stats.backwards.get(), a.stats.duplicates.get(); n != 3 || d != 0 {
		t.Fatalf("%d backwards, %d duplicates counted; want 3 and 0", n, d)
	}
}

// A sequence that went back and carries on, message after message, is the
// line's sequence: after three messages, the topic follows it (a forged
// first message cannot leave a topic stuck ahead of its real sequence).
func TestASequenceThatWentBackAndCarriesOnIsFollowed(t *testing.T) {
	ft := newFeedTest(t, 0, "")
	a := ft.line("A")
	expect(t, ft.batch(a, 7, "X", 1<<40), "session 7", "ticks X 1099511627776") // forged, first heard
	expect(t, ft.batch(a, 7, "X", 100, 101), "backwards A 1099511627777->100")
	expect(t, ft.batch(a, 7, "X", 102))
	expect(t, ft.batch(a, 7, "X", 103, 104), "ticks X 103,104")
	expect(t, ft.batch(a, 7, "X", 105), "ticks X 105")
	if n := a.stats.backwards.get(); n != 3 {
		t.Fatalf("%d backwards ticks counted, want 3", n)
	}
}

func TestRestartIsASessionChangeNotAGap(t *testing.T) {
	ft := newFeedTest(t, 0, "")
	a := ft.line("A")
	ft.batch(a, 7, "X", 1, 2, 3)
	expect(t, ft.control(a, schema.EndOfSession, 7, 0), "end 7")
	expect(t, ft.batch(a, 8, "X", 1, 2), "restart 7->8", "ticks X 1,2")
	// And without an end of session (a crash), the same.
	expect(t, ft.batch(a, 9, "X", 1), "restart 8->9", "ticks X 1")
	if s := a.stats.snapshot("A"); s.Gaps != 0 || s.Restarts != 2 {
		t.Fatalf("stats %+v: want no gap and 2 restarts", s)
	}
}

func TestStaleLinesAndRecovery(t *testing.T) {
	ft := newFeedTest(t, 0, "")
	a := ft.line("A")
	// Until the publisher advertises its heartbeat, 3s of silence is stale.
	expect(t, ft.advance(2999*time.Millisecond))
	expect(t, ft.advance(time.Millisecond), "stale A")
	expect(t, ft.advance(time.Hour)) // reported once
	expect(t, ft.control(a, schema.Heartbeat, 7, 100*time.Millisecond), "active A", "session 7")
	// Now three of its heartbeat intervals.
	expect(t, ft.advance(299*time.Millisecond))
	if d := ft.f.deadline(); !d.Equal(ft.now.Add(time.Millisecond)) {
		t.Fatalf("deadline in %v, want 1ms", d.Sub(ft.now))
	}
	expect(t, ft.advance(time.Millisecond), "stale A")
	ft.batch(a, 7, "X", 1)
	// A session that ended is silent by design: not stale.
	expect(t, ft.control(a, schema.EndOfSession, 7, 0), "end 7")
	expect(t, ft.advance(time.Hour))
	if !ft.f.deadline().IsZero() {
		t.Fatal("a deadline is set for a line whose session ended")
	}
}

func TestStaleTimeoutOption(t *testing.T) {
	ft := newFeedTest(t, 50*time.Millisecond, "")
	a := ft.line("A")
	ft.control(a, schema.Heartbeat, 7, time.Second)
	expect(t, ft.advance(50*time.Millisecond), "stale A")
}

func TestTopicsAreFilteredLocally(t *testing.T) {
	ft := newFeedTest(t, 0, "AA", "MS")
	a := ft.line("A")
	expect(t, ft.batch(a, 7, "GOOG", 1)) // not subscribed: PGM delivers all
	expect(t, ft.batch(a, 7, "AAPL", 1), "session 7", "ticks AAPL 1")
	expect(t, ft.batch(a, 7, "MSFT", 1), "ticks MSFT 1")
	// Control messages pass whatever the subscriptions.
	expect(t, ft.control(a, schema.EndOfSession, 7, 0), "end 7")
	if n := a.stats.filtered.get(); n != 1 {
		t.Fatalf("%d filtered, want 1", n)
	}
}

func TestMalformedAndForeignMessagesAreCountedAndSkipped(t *testing.T) {
	ft := newFeedTest(t, 0, "")
	a := ft.line("A")
	ft.batch(a, 7, "X", 1)
	for _, m := range []*Raw{
		{Topic: []byte("X"), Body: []byte("garbage"), Frames: 2},
		{Topic: []byte("X"), Frames: 1},
		{Topic: []byte("X"), Body: ft.enc.Encode(schema.Header{Type: schema.Batch, Session: 7}, []schema.Tick{{Seq: 2}}), Frames: 3},
		{Topic: []byte(schema.ControlTopic), Body: ft.enc.Encode(schema.Header{Type: schema.Batch, Session: 7}, []schema.Tick{{Seq: 1}}), Frames: 2},
		{Topic: []byte("X"), Body: nil, Frames: 2},
	} {
		ft.f.message(a, m, ft.now)
	}
	expect(t, ft.drain())
	expect(t, ft.batch(a, 7, "X", 2), "ticks X 2")
	if n := a.stats.decodeErrors.get(); n != 5 {
		t.Fatalf("%d decode errors, want 5", n)
	}
}

func TestTwoLinesOfOneSessionDeliverEachTickOnce(t *testing.T) {
	ft := newFeedTest(t, 0, "")
	a, b := ft.line("A"), ft.line("B")
	expect(t, ft.batch(a, 7, "X", 1, 2), "session 7", "ticks X 1,2")
	expect(t, ft.batch(b, 7, "X", 1, 2))
	expect(t, ft.batch(b, 7, "X", 3), "ticks X 3")
	expect(t, ft.batch(a, 7, "X", 3))
	// A second publisher (another session) is another feed.
	c := ft.line("C")
	expect(t, ft.batch(c, 9, "X", 1), "session 9", "ticks X 1")
}

func TestLineEventsBecomeEvents(t *testing.T) {
	ft := newFeedTest(t, 0, "")
	a := ft.line("A")
	ft.f.lineEvent(a, LineEvent{Kind: LineUp, Detail: "127.0.0.1:1"}, ft.now)
	ft.f.lineEvent(a, LineEvent{Kind: LineDown, Detail: "EOF"}, ft.now)
	ft.f.lineEvent(a, LineEvent{Kind: LineLoss, Lost: 3}, ft.now)
	expect(t, ft.drain(), "line-up A", "line-down A", "line-loss A")
	if s := a.stats.snapshot("A"); s.Connects != 1 || s.Disconnects != 1 || s.TransportLoss != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestHandlingMessagesAllocatesNothing(t *testing.T) {
	ft := newFeedTest(t, 0, "")
	a := ft.line("A")
	ticks := make([]schema.Tick, 64)
	var body []byte
	seq := uint64(0)
	next := func() {
		for i := range ticks {
			seq++
			ticks[i].Seq = seq
		}
		body = ft.enc.Encode(schema.Header{Type: schema.Batch, Session: 7}, ticks)
	}
	raw := &Raw{Topic: []byte("X"), Frames: 2}
	run := func() {
		next()
		raw.Body = body
		ft.f.message(a, raw, ft.now)
		for ft.f.pending() {
			ft.f.pop()
		}
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("%v allocations per 64-tick message", n)
	}
}

func TestATopicsFirstMessageLostAfterJoiningIsAGap(t *testing.T) {
	tests := []struct {
		name string
		prev uint64 // the previous message on X: its stream sequence
		want []string
	}{
		// The line joined the session at stream sequence 1 (the heartbeat
		// below); X's first message we hear is stream 3, its ticks 44, 45.
		{"previous message before we joined", 0, []string{"ticks X 44,45"}},
		{"previous message after we joined: lost", 2, []string{"gap X 41..43 missing 3 by seq", "ticks X 44,45"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := newFeedTest(t, time.Hour, "")
			a := ft.line("A")
			ft.control(a, schema.Heartbeat, 7, time.Second) // stream 1: the join point
			ft.seq++                                        // stream 2: a message on X that did not arrive
			got := ft.send(a, "X", schema.Header{Type: schema.Batch, Session: 7, PrevStreamSeq: tt.prev, PrevTopicSeq: 40}, 44, 45)
			expect(t, got, tt.want...)
		})
	}
}

func TestATopicFirstHeardThroughAHeartbeatAfterALostMessage(t *testing.T) {
	ft := newFeedTest(t, time.Hour, "")
	a := ft.line("A")
	ft.control(a, schema.Heartbeat, 7, time.Second) // stream 1
	ft.seq++                                        // stream 2: X's last batch (ticks 11..13), lost
	got := ft.send(a, "X", schema.Header{Type: schema.TopicHeartbeat, Session: 7, TopicSeq: 13, PrevStreamSeq: 2, PrevTopicSeq: 10})
	expect(t, got, "gap X 11..13 missing 3 by hb")
	expect(t, ft.batch(a, 7, "X", 14), "ticks X 14")
}

func TestAFirstMessageLostOnOneLineOnly(t *testing.T) {
	ft := newFeedTest(t, time.Hour, "")
	a, b := ft.line("A"), ft.line("B")
	ft.control(a, schema.Heartbeat, 7, time.Second)
	ft.seq--
	ft.control(b, schema.Heartbeat, 7, time.Second) // both joined at stream 1
	ft.seq++                                        // stream 2: X's first batch (1, 2)
	ft.seq--
	expect(t, ft.send(b, "X", schema.Header{Type: schema.Batch, Session: 7}, 1, 2), "ticks X 1,2")
	// A lost it: A's first X message (stream 3) points back to it.
	expect(t, ft.send(a, "X", schema.Header{Type: schema.Batch, Session: 7, PrevStreamSeq: 2, PrevTopicSeq: 0}, 3), "ticks X 3")
	if a.stats.missing.get() != 2 || b.stats.missing.get() != 0 || ft.f.gaps.get() != 0 {
		t.Fatalf("A missing %d, B missing %d, feed gaps %d; want 2, 0, 0", a.stats.missing.get(), b.stats.missing.get(), ft.f.gaps.get())
	}
}

// BenchmarkFeed measures the feed's handling of batch messages (decode,
// filtering, sequence checks, arbitration bookkeeping, events) on 50
// topics, per message and per tick.
func BenchmarkFeed(b *testing.B) {
	for _, n := range []int{1, 8, 64} {
		b.Run(fmt.Sprint("ticks=", n), func(b *testing.B) {
			var set topic.Set
			set.Add(nil)
			f := newFeed(&set, time.Hour, DefaultArbitration)
			l := f.addLine("A", time.Now())
			enc := schema.NewEncoder(0)
			topics := make([][]byte, 50)
			seqs := make([]uint64, 50)
			for i := range topics {
				topics[i] = fmt.Appendf(nil, "SYM%02d", i)
			}
			ticks := make([]schema.Tick, n)
			bodies := make([][]byte, 50)
			raw := &Raw{Frames: 2}
			now := time.Now()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				k := i % 50
				for j := range ticks {
					seqs[k]++
					ticks[j].Seq = seqs[k]
				}
				bodies[k] = append(bodies[k][:0], enc.Encode(schema.Header{Type: schema.Batch, Session: 1, StreamSeq: uint64(i + 1)}, ticks)...)
				raw.Topic, raw.Body = topics[k], bodies[k]
				f.message(l, raw, now)
				for f.pending() {
					f.pop()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/tick")
		})
	}
}

// sendAt is send with the stream sequence given, as a forger sets it; the
// test's own sequence carries on from where it was.
func (ft *feedTest) sendAt(l *line, stream uint64, topic string, h schema.Header, seqs ...uint64) []string {
	saved := ft.seq
	ft.seq = stream - 1
	out := ft.send(l, topic, h, seqs...)
	ft.seq = saved
	return out
}

// One message claiming a topic sequence 2^63 ahead (or any jump of more
// ticks than the messages between it and the topic's last one can hold)
// is not believed: it is dropped and counted, no gap is reported, and the
// topic carries on. Before: a gap of 18,446,744,073,709,551,608 ticks, then
// every real tick counted as a duplicate.
func TestAnImplausibleTopicJumpIsDroppedNotBelieved(t *testing.T) {
	ft := newFeedTest(t, 0, "")
	a := ft.line("A")
	ft.batch(a, 7, "X", 1, 2, 3)
	expect(t, ft.batch(a, 7, "X", 1<<63, 1<<63+1))
	expect(t, ft.topicHeartbeat(a, 7, "X", 1<<62))
	expect(t, ft.topicHeartbeat(a, 7, "X", 1<<64-1))
	expect(t, ft.batch(a, 7, "X", 4, 5), "ticks X 4,5")
	// A real loss of a few messages is a gap, as ever.
	ft.seq += 3
	expect(t, ft.batch(a, 7, "X", 9), "gap X 6..8 missing 3 by seq", "ticks X 9")
	if n := a.stats.implausible.get(); n != 3 {
		t.Fatalf("%d implausible messages counted, want 3", n)
	}
	if g := ft.f.gaps.get(); g != 1 {
		t.Fatalf("%d gaps, want the real one", g)
	}
}

// A stream sequence further ahead than the publisher can have gone since
// the line last heard it (a million messages, plus ten million a second)
// is not believed either: whatever the message claims, it changes nothing.
func TestAnImplausibleStreamJumpIsDroppedNotBelieved(t *testing.T) {
	ft := newFeedTest(t, 0, "")
	a := ft.line("A")
	ft.batch(a, 7, "X", 1, 2, 3)
	h := schema.Header{Type: schema.Batch, Session: 7}
	expect(t, ft.sendAt(a, ft.seq+1<<40, "X", h, 1<<40))
	expect(t, ft.sendAt(a, ft.seq+1<<40, "Y", h, 1))
	expect(t, ft.batch(a, 7, "X", 4), "ticks X 4")
	// After a second, ten million messages more are possible.
	ft.now = ft.now.Add(time.Second)
	ft.seq += 5_000_000
	expect(t, ft.batch(a, 7, "X", 5), "ticks X 5")
	if n := a.stats.implausible.get(); n != 2 {
		t.Fatalf("%d implausible messages counted, want 2", n)
	}
	// A reconnection resets what the line can judge.
	ft.f.lineEvent(a, LineEvent{Kind: LineDown}, ft.now)
	ft.f.lineEvent(a, LineEvent{Kind: LineUp}, ft.now)
	ft.drain()
	expect(t, ft.sendAt(a, ft.seq+1<<40, "X", h, 6), "ticks X 6")
}

// A heartbeat interval out of [1ms, 1h] is ignored: the line keeps the
// stale timeout it had. Before: 2^62 ns overflowed to "stale after 0s",
// 2^61 ns made the line never go stale.
func TestAnImplausibleHeartbeatIntervalIsIgnored(t *testing.T) {
	ft := newFeedTest(t, 0, "")
	a := ft.line("A")
	ft.control(a, schema.Heartbeat, 7, 100*time.Millisecond)
	expect(t, ft.control(a, schema.Heartbeat, 7, 1<<62))
	expect(t, ft.control(a, schema.Heartbeat, 7, 1<<61))
	expect(t, ft.control(a, schema.Heartbeat, 7, time.Microsecond))
	expect(t, ft.advance(299*time.Millisecond))
	expect(t, ft.advance(time.Millisecond), "stale A")
	if n := a.stats.implausible.get(); n != 3 {
		t.Fatalf("%d implausible intervals counted, want 3", n)
	}
}

// A session's topics are bounded: beyond the limit, messages on new topics
// are dropped and counted, and reported once; idle topics are forgotten,
// making room. Before: 300,000 topics took a subscriber from 11 to 262 MB
// for the whole session.
func TestTopicsAreBoundedAndIdleOnesExpire(t *testing.T) {
	ft := newFeedTest(t, 0, "")
	ft.f.maxTopics, ft.f.topicIdle = 3, time.Minute
	a := ft.line("A")
	ft.control(a, schema.Heartbeat, 7, time.Hour)
	for _, tp := range []string{"A", "B", "C"} {
		expect(t, ft.batch(a, 7, tp, 1), "ticks "+tp+" 1")
	}
	expect(t, ft.batch(a, 7, "D", 1), "topic-limit A")
	expect(t, ft.batch(a, 7, "E", 1))
	expect(t, ft.topicHeartbeat(a, 7, "F", 3))
	if n := a.stats.topicsRefused.get(); n != 3 {
		t.Fatalf("%d refused, want 3", n)
	}
	ft.advance(30 * time.Second)
	expect(t, ft.batch(a, 7, "A", 2), "ticks A 2") // A stays busy
	ft.advance(40 * time.Second)                   // B and C idle for 70 s: forgotten
	if n := ft.f.topicsExpired.get(); n != 2 {
		t.Fatalf("%d topics expired, want 2", n)
	}
	expect(t, ft.batch(a, 7, "D", 5), "ticks D 5")
	expect(t, ft.batch(a, 7, "B", 9), "ticks B 9") // joined afresh: no gap
	expect(t, ft.batch(a, 7, "E", 1), "topic-limit A")
}

// A message on the wrong kind of topic (a session's end or heartbeat on a
// data topic, a batch or topic heartbeat on the control topic) is a decode
// error and changes nothing: not the line's session, not its join point,
// not its heartbeat, not the end of its session.
func TestAMessageOnTheWrongKindOfTopicChangesNothing(t *testing.T) {
	ft := newFeedTest(t, 0, "")
	a := ft.line("A")
	expect(t, ft.batch(a, 7, "AAPL", 1, 2), "session 7", "ticks AAPL 1,2")
	expect(t, ft.send(a, "AAPL", schema.Header{Type: schema.EndOfSession, Session: 7}))
	expect(t, ft.send(a, "AAPL", schema.Header{Type: schema.Heartbeat, Session: 9, Heartbeat: int64(time.Hour)}))
	expect(t, ft.send(a, schema.ControlTopic, schema.Header{Type: schema.Batch, Session: 9}, 1))
	expect(t, ft.send(a, schema.ControlTopic, schema.Header{Type: schema.TopicHeartbeat, Session: 7, TopicSeq: 10}))
	if got := a.stats.decodeErrors.get(); got != 4 {
		t.Errorf("decode errors = %d, want 4", got)
	}
	if a.ended || a.session.id != 7 || a.heartbeat == time.Hour {
		t.Errorf("the line changed: ended %v, session %d, heartbeat %v", a.ended, a.session.id, a.heartbeat)
	}
	expect(t, ft.batch(a, 7, "AAPL", 3), "ticks AAPL 3")
	expect(t, ft.control(a, schema.EndOfSession, 7, 0), "end 7")
}
