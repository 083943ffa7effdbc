// Package e2e tests tickcast end to end: publisher → real sockets →
// subscriber, with faults injected between them. All traffic stays on
// 127.0.0.1.
package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/relay"
	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/subscriber"
	"github.com/tickcast/tickcast/zmtp"
)

// seqRange is a run of sequence numbers of one topic, first..last.
type seqRange struct{ first, last uint64 }

// lossyProxy is a relay from a publisher's endpoint to its own that drops
// the batches drop chooses, remembering which ticks they held.
type lossyProxy struct {
	down *zmtp.Pub

	mu      sync.Mutex
	dropped map[string][]seqRange
}

func newLossyProxy(t *testing.T, upstream string, drop func(string, *schema.Message) bool) *lossyProxy {
	t.Helper()
	up, err := zmtp.Dial(upstream, zmtp.WithReconnect(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	up.Subscribe(nil)
	down, err := zmtp.Listen("tcp://127.0.0.1:0", zmtp.WithSendHWM(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	p := &lossyProxy{down: down, dropped: map[string][]seqRange{}}
	r := relay.New(up, func(topic []byte, m *schema.Message) bool {
		if !drop(string(topic), m) {
			return false
		}
		p.mu.Lock()
		p.dropped[string(topic)] = append(p.dropped[string(topic)], seqRange{m.Tick(0).Seq, m.Tick(m.Len() - 1).Seq})
		p.mu.Unlock()
		return true
	}, down)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		down.Close()
	})
	return p
}

// lost returns the dropped runs of topic, adjacent runs merged: the gaps a
// subscriber must report.
func (p *lossyProxy) lost(topic string) []seqRange {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []seqRange
	for _, r := range p.dropped[topic] {
		if n := len(out); n > 0 && out[n-1].last+1 == r.first {
			out[n-1].last = r.last
			continue
		}
		out = append(out, r)
	}
	return out
}

// feedLog is what a subscriber delivered, per topic.
type feedLog struct {
	ticks    map[string][]uint64
	gaps     map[string][]seqRange
	byHB     int // gaps revealed by topic heartbeats
	sessions []subscriber.Event
	ends     int
}

// readUntil reads events until stop says so (or 20s pass).
func readUntil(t *testing.T, sub *subscriber.Subscriber, stop func(*feedLog, subscriber.Event) bool) *feedLog {
	t.Helper()
	log := &feedLog{ticks: map[string][]uint64{}, gaps: map[string][]seqRange{}}
	timer := time.AfterFunc(20*time.Second, func() { sub.Close() })
	defer timer.Stop()
	for {
		ev, err := sub.Next(context.Background())
		if err != nil {
			t.Fatalf("Next: %v (so far: %d topics, gaps %v)", err, len(log.ticks), log.gaps)
		}
		switch ev.Kind {
		case subscriber.EventTicks:
			for _, tk := range ev.Ticks {
				log.ticks[string(ev.Topic)] = append(log.ticks[string(ev.Topic)], tk.Seq)
			}
		case subscriber.EventGap:
			log.gaps[string(ev.Topic)] = append(log.gaps[string(ev.Topic)],
				seqRange{ev.Gap.Expected, ev.Gap.Received - 1})
			if ev.Gap.Missing != ev.Gap.Received-ev.Gap.Expected {
				t.Fatalf("gap %+v: Missing is not Received-Expected", ev.Gap)
			}
			if ev.Gap.Heartbeat {
				log.byHB++
			}
		case subscriber.EventSessionStart:
			log.sessions = append(log.sessions, ev)
		case subscriber.EventSessionEnd:
			log.ends++
		}
		if stop(log, ev) {
			return log
		}
	}
}

func untilSessionEnd(_ *feedLog, ev subscriber.Event) bool {
	return ev.Kind == subscriber.EventSessionEnd
}

// waitPeers waits until sink has n subscribers with a subscription each.
func waitPeers(t *testing.T, sink publisher.Sink, n int) {
	t.Helper()
	pub := sink.(*zmtp.Pub)
	deadline := time.Now().Add(10 * time.Second)
	for {
		peers := pub.Peers()
		ok := len(peers) == n
		for _, p := range peers {
			ok = ok && p.Subscriptions > 0
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want %d", len(peers), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func newSubscriber(t *testing.T, ep string, opts ...subscriber.Option) *subscriber.Subscriber {
	t.Helper()
	src, err := endpoint.Source(ep, endpoint.WithReconnect(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := subscriber.New(context.Background(), append([]subscriber.Option{subscriber.WithSource(src)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return sub
}

func newPublisher(t *testing.T, ep string, opts ...publisher.Option) (*publisher.Publisher, publisher.Sink) {
	t.Helper()
	sink, err := endpoint.Sink(ep)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := publisher.New(append([]publisher.Option{publisher.WithSink(sink)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return pub, sink
}

// publishRandomBatches publishes n ticks on each topic in batches of random
// sizes, topics interleaved.
func publishRandomBatches(t *testing.T, pub *publisher.Publisher, topics []string, n int, rng *rand.Rand) {
	left := map[string]int{}
	for _, tp := range topics {
		left[tp] = n
	}
	for len(left) > 0 {
		tp := topics[rng.IntN(len(topics))]
		if left[tp] == 0 {
			continue
		}
		k := min(left[tp], 1+rng.IntN(15))
		if _, err := pub.Topic(tp).PublishBatch(make([]schema.Tick, k)); err != nil {
			t.Fatal(err)
		}
		if left[tp] -= k; left[tp] == 0 {
			delete(left, tp)
		}
		if rng.IntN(4) == 0 {
			time.Sleep(50 * time.Microsecond) // let batches form and leave
		}
	}
}

func TestGapReportsMatchWhatWasDroppedExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pub, sink := newPublisher(t, "tcp://127.0.0.1:0", publisher.WithHeartbeat(50*time.Millisecond), publisher.WithMaxBatch(10))
	// Drop about one batch in six, chosen at random, never a heartbeat.
	proxy := newLossyProxy(t, sink.Stats().Endpoint, func(string, *schema.Message) bool { return rng.IntN(6) == 0 })
	sub := newSubscriber(t, proxy.down.Endpoint(), subscriber.WithTopics("A", "B"))
	waitPeers(t, sink, 1)
	waitPeers(t, proxy.down, 1)

	const n = 2000
	publishRandomBatches(t, pub, []string{"A", "B", "C"}, n, rand.New(rand.NewPCG(3, 4)))
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	log := readUntil(t, sub, untilSessionEnd)

	for _, tp := range []string{"A", "B"} {
		lost := proxy.lost(tp)
		if len(lost) == 0 {
			t.Fatalf("topic %s: nothing was dropped; the test proves nothing", tp)
		}
		if !slices.Equal(log.gaps[tp], lost) {
			t.Errorf("topic %s: gaps reported %v, dropped %v", tp, log.gaps[tp], lost)
		}
		// Delivered and lost together are exactly 1..n, each once, in order.
		var all []uint64
		got := log.ticks[tp]
		for i, g := 0, 0; i < len(got) || g < len(lost); {
			if g < len(lost) && (i == len(got) || lost[g].first < got[i]) {
				for s := lost[g].first; s <= lost[g].last; s++ {
					all = append(all, s)
				}
				g++
				continue
			}
			all = append(all, got[i])
			i++
		}
		if len(all) != n || all[0] != 1 || all[n-1] != n || !slices.IsSorted(all) || len(slices.Compact(slices.Clone(all))) != n {
			t.Errorf("topic %s: delivered ∪ gaps is not exactly 1..%d (%d ticks delivered)", tp, n, len(got))
		}
	}
	if _, ok := log.ticks["C"]; ok {
		t.Error("topic C was delivered without a subscription")
	}
	st := sub.Stats().Total
	if st.DecodeErrors != 0 || st.Duplicates != 0 {
		t.Errorf("stats %+v", st)
	}
	t.Logf("dropped A %v, B %v; %d gaps revealed by heartbeats", proxy.lost("A"), proxy.lost("B"), log.byHB)
}

func TestLossOfTheLastTicksIsRevealedByTopicHeartbeat(t *testing.T) {
	pub, sink := newPublisher(t, "tcp://127.0.0.1:0", publisher.WithHeartbeat(20*time.Millisecond))
	defer pub.Close()
	// Drop every batch that carries sequence 5 or later: the topic goes
	// quiet after loss, and only its heartbeat can tell.
	proxy := newLossyProxy(t, sink.Stats().Endpoint, func(_ string, m *schema.Message) bool {
		return m.Tick(m.Len()-1).Seq >= 5
	})
	sub := newSubscriber(t, proxy.down.Endpoint())
	waitPeers(t, sink, 1)
	waitPeers(t, proxy.down, 1)
	topic := pub.Topic("X")
	for range 7 {
		topic.Publish(schema.Tick{})
		time.Sleep(time.Millisecond)
	}
	// The publisher stays up: no Close, no end of session, just silence.
	log := readUntil(t, sub, func(l *feedLog, _ subscriber.Event) bool { return len(l.gaps["X"]) > 0 })
	want := proxy.lost("X")
	if want[0].last != 7 || !slices.Equal(log.gaps["X"], []seqRange{{want[0].first, 7}}) || log.byHB != 1 {
		t.Fatalf("gaps %v (by heartbeat: %d), want %v by heartbeat", log.gaps["X"], log.byHB, want)
	}
}

func TestPublisherRestartIsASessionChangeNotAGap(t *testing.T) {
	pub1, sink1 := newPublisher(t, "tcp://127.0.0.1:0", publisher.WithHeartbeat(20*time.Millisecond))
	ep := sink1.Stats().Endpoint
	sub := newSubscriber(t, ep)
	waitPeers(t, sink1, 1)
	for range 100 {
		pub1.Publish("X", schema.Tick{})
	}
	pub1.Close()
	log1 := readUntil(t, sub, untilSessionEnd)

	// The subscriber notices the lost connection, and reconnects, as it
	// reads: keep reading while the new publisher comes up.
	pub2, sink2 := newPublisher(t, ep, publisher.WithHeartbeat(20*time.Millisecond))
	defer pub2.Close()
	logs := make(chan *feedLog)
	go func() {
		logs <- readUntil(t, sub, func(l *feedLog, _ subscriber.Event) bool { return len(l.ticks["X"]) == 10 })
	}()
	waitPeers(t, sink2, 1)
	for range 10 {
		pub2.Publish("X", schema.Tick{})
	}
	log2 := <-logs

	if len(log1.ticks["X"]) != 100 || log1.ends != 1 {
		t.Fatalf("first session: %d ticks, %d ends", len(log1.ticks["X"]), log1.ends)
	}
	if len(log2.sessions) != 1 || log2.sessions[0].PrevSession != pub1.Session() || log2.sessions[0].Session != pub2.Session() {
		t.Fatalf("session events %+v, want one restart %d -> %d", log2.sessions, pub1.Session(), pub2.Session())
	}
	if len(log1.gaps)+len(log2.gaps) != 0 {
		t.Fatalf("gaps reported across a restart: %v %v", log1.gaps, log2.gaps)
	}
	if !slices.Equal(log2.ticks["X"], []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) {
		t.Fatalf("second session ticks %v", log2.ticks["X"])
	}
}

func TestSlowSubscriberLossIsReportedExactly(t *testing.T) {
	// A subscriber that stops reading: the kernel buffers fill, then the
	// publisher's high-water mark drops messages for it. Whatever it loses
	// must come back as gaps, to the tick.
	sink, err := endpoint.Sink("tcp://127.0.0.1:0", endpoint.WithSendHWM(4))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := publisher.New(publisher.WithSink(sink), publisher.WithHeartbeat(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	sub := newSubscriber(t, sink.Stats().Endpoint, subscriber.WithStaleAfter(time.Minute))
	waitPeers(t, sink, 1)

	const n, batch = 200_000, 100
	topics := []string{"A", "B", "C"}
	published := map[string]uint64{}
	for i := range n / batch {
		tp := topics[i%len(topics)]
		if _, err := pub.Topic(tp).PublishBatch(make([]schema.Tick, batch)); err != nil {
			t.Fatal(err)
		}
		published[tp] += batch
	}
	// Nobody reads until the publisher has handed everything to the sink.
	for sink.Stats().Messages < n/batch {
		time.Sleep(time.Millisecond)
	}
	if sink.Stats().Dropped == 0 {
		t.Fatal("the kernel buffered all 8 MB: nothing was dropped to check")
	}
	// Now the subscriber catches up, while the publisher closes.
	logs := make(chan *feedLog)
	go func() { logs <- readUntil(t, sub, untilSessionEnd) }()
	pub.Close()
	log := <-logs
	for _, tp := range topics {
		got := uint64(len(log.ticks[tp]))
		for _, g := range log.gaps[tp] {
			got += g.last - g.first + 1
		}
		if got != published[tp] {
			t.Errorf("topic %s: delivered + reported missing = %d, published %d", tp, got, published[tp])
		}
	}
	st := sub.Stats()
	t.Logf("publisher dropped %d messages; subscriber got %d ticks, %d gaps, %d missing",
		sink.Stats().Dropped, st.Ticks, st.Gaps, st.Missing)
}

func TestManyTopicsFanOut(t *testing.T) {
	pub, sink := newPublisher(t, "tcp://127.0.0.1:0")
	subs := map[string]*subscriber.Subscriber{
		"SYM1": newSubscriber(t, sink.Stats().Endpoint, subscriber.WithTopics("SYM1")), // SYM1, SYM10..SYM19
		"SYM2": newSubscriber(t, sink.Stats().Endpoint, subscriber.WithTopics("SYM2")),
		"":     newSubscriber(t, sink.Stats().Endpoint),
	}
	waitPeers(t, sink, 3)
	for i := range 3000 {
		pub.Publish(fmt.Sprint("SYM", i%30), schema.Tick{Price: int64(i)})
	}
	pub.Close()
	for prefix, sub := range subs {
		log := readUntil(t, sub, untilSessionEnd)
		want := 0
		for i := range 30 {
			if name := fmt.Sprint("SYM", i); len(name) >= len(prefix) && name[:len(prefix)] == prefix {
				want++
				if got := log.ticks[name]; len(got) != 100 || got[0] != 1 || got[99] != 100 {
					t.Errorf("prefix %q: topic %s got %d ticks", prefix, name, len(got))
				}
			}
		}
		if len(log.ticks) != want {
			t.Errorf("prefix %q: %d topics delivered, want %d", prefix, len(log.ticks), want)
		}
	}
}

func TestVanishedPublisherIsReportedStaleThenRestart(t *testing.T) {
	pub1, sink1 := newPublisher(t, "tcp://127.0.0.1:0", publisher.WithHeartbeat(20*time.Millisecond))
	defer pub1.Close()
	ep := sink1.Stats().Endpoint
	sub := newSubscriber(t, ep, subscriber.WithStaleAfter(100*time.Millisecond))
	waitPeers(t, sink1, 1)
	pub1.Publish("X", schema.Tick{})
	events := &eventLog{t: t, sub: sub}
	next := events.next
	next(subscriber.EventTicks)
	// The publisher's endpoint disappears without an end of session (a
	// crash, a cable): the line goes down, then, silent for the stale
	// timeout, stale.
	sink1.Close()
	next(subscriber.EventLineDown)
	if ev := next(subscriber.EventStale); ev.Session != pub1.Session() {
		t.Fatalf("stale event %+v", ev)
	}
	// A new publisher on the endpoint: the line comes back, as a restart.
	pub2, _ := newPublisher(t, ep, publisher.WithHeartbeat(20*time.Millisecond))
	defer pub2.Close()
	next(subscriber.EventLineUp)
	ev := next(subscriber.EventSessionStart)
	if ev.PrevSession != pub1.Session() || ev.Session != pub2.Session() {
		t.Fatalf("session start %+v", ev)
	}
	if !slices.Contains(events.kinds[slices.Index(events.kinds, subscriber.EventStale):], subscriber.EventActive) {
		t.Fatalf("no active event after the stale one: %v", events.kinds)
	}
}

// abFeed runs one publisher on two endpoints (one session: lines A and B),
// each through a lossy relay, to one subscriber reading both lines.
func abFeed(t *testing.T, dropA, dropB func(string, *schema.Message) bool) (*feedLog, *lossyProxy, *lossyProxy, subscriber.Stats) {
	t.Helper()
	sinkA, err := endpoint.Sink("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sinkB, err := endpoint.Sink("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := publisher.New(publisher.WithSink(sinkA, sinkB), publisher.WithHeartbeat(20*time.Millisecond), publisher.WithMaxBatch(8))
	if err != nil {
		t.Fatal(err)
	}
	a := newLossyProxy(t, sinkA.Stats().Endpoint, dropA)
	b := newLossyProxy(t, sinkB.Stats().Endpoint, dropB)
	srcA, _ := endpoint.Source(a.down.Endpoint(), endpoint.WithReconnect(10*time.Millisecond))
	srcB, _ := endpoint.Source(b.down.Endpoint(), endpoint.WithReconnect(10*time.Millisecond))
	// A generous arbitration window: the relays run on a loaded 2-core
	// machine, and this test is about exactness, not timing.
	sub, err := subscriber.New(context.Background(), subscriber.WithSource(srcA, srcB),
		subscriber.WithArbitration(time.Second), subscriber.WithStaleAfter(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	waitPeers(t, sinkA, 1)
	waitPeers(t, sinkB, 1)
	waitPeers(t, a.down, 1)
	waitPeers(t, b.down, 1)
	publishRandomBatches(t, pub, []string{"X", "Y"}, 3000, rand.New(rand.NewPCG(5, 6)))
	pub.Close()
	// The session ends once both lines have ended it.
	log := readUntil(t, sub, untilSessionEnd)
	return log, a, b, sub.Stats()
}

// ticksIn returns the set of ticks in runs.
func ticksIn(runs []seqRange) map[uint64]bool {
	m := map[uint64]bool{}
	for _, r := range runs {
		for s := r.first; s <= r.last; s++ {
			m[s] = true
		}
	}
	return m
}

func TestABLinesMaskLossOnOneLine(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	log, a, _, st := abFeed(t,
		func(string, *schema.Message) bool { return rng.IntN(5) == 0 }, // A loses a fifth
		func(string, *schema.Message) bool { return false })
	for _, tp := range []string{"X", "Y"} {
		if len(a.lost(tp)) == 0 {
			t.Fatalf("line A dropped nothing on %s", tp)
		}
		if got := log.ticks[tp]; len(got) != 3000 || !slices.Equal(got, seqRangeSlice(1, 3000)) {
			t.Fatalf("topic %s: %d ticks delivered, want 1..3000 in order", tp, len(got))
		}
		if len(log.gaps[tp]) != 0 {
			t.Fatalf("topic %s: gaps %v reported though line B had everything", tp, log.gaps[tp])
		}
	}
	lost := uint64(len(ticksIn(a.lost("X"))) + len(ticksIn(a.lost("Y"))))
	if st.Gaps != 0 || st.Lines[0].Missing != lost || st.Lines[1].Missing != 0 {
		t.Fatalf("feed gaps %d; line A missing %d (dropped %d), line B missing %d", st.Gaps, st.Lines[0].Missing, lost, st.Lines[1].Missing)
	}
}

func TestABGapsAreExactlyWhatEveryLineLost(t *testing.T) {
	rngA, rngB := rand.New(rand.NewPCG(9, 10)), rand.New(rand.NewPCG(11, 12))
	log, a, b, st := abFeed(t,
		func(string, *schema.Message) bool { return rngA.IntN(3) == 0 },
		func(string, *schema.Message) bool { return rngB.IntN(3) == 0 })
	var both uint64
	for _, tp := range []string{"X", "Y"} {
		la, lb := ticksIn(a.lost(tp)), ticksIn(b.lost(tp))
		var want []uint64 // lost on both lines
		for s := range la {
			if lb[s] {
				want = append(want, s)
			}
		}
		slices.Sort(want)
		both += uint64(len(want))
		var got []uint64
		for _, g := range log.gaps[tp] {
			got = append(got, seqRangeSlice(g.first, g.last)...)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("topic %s: gaps cover %d ticks, both lines lost %d", tp, len(got), len(want))
		}
		if uint64(len(log.ticks[tp]))+uint64(len(got)) != 3000 {
			t.Fatalf("topic %s: %d delivered + %d missing != 3000", tp, len(log.ticks[tp]), len(got))
		}
	}
	if both == 0 {
		t.Fatal("no tick was lost on both lines: the test proves little")
	}
	if st.Missing != both {
		t.Fatalf("feed missing %d, want %d", st.Missing, both)
	}
}

func seqRangeSlice(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}
