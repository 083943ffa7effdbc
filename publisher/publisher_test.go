package publisher

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tickcast/tickcast/schema"
)

// sent is one message a captureSink received, decoded.
type sent struct {
	topic string
	h     schema.Header
	ticks []schema.Tick
}

// captureSink decodes and keeps everything sent to it. Send can be made to
// block (gate), to stand for a sender that cannot keep up.
type captureSink struct {
	mu      sync.Mutex
	msgs    []sent
	flushes int
	closed  bool
	gate    chan struct{}
}

func (c *captureSink) Send(msg Message) error {
	if c.gate != nil {
		<-c.gate
	}
	var m schema.Message
	if err := m.Decode(msg.Body); err != nil {
		return err
	}
	if msg.Control != (m.Type != schema.Batch) {
		return fmt.Errorf("%s marked control=%v", m.Type, msg.Control)
	}
	c.mu.Lock()
	c.msgs = append(c.msgs, sent{string(msg.Topic), m.Header, m.AppendTicks(nil)})
	c.mu.Unlock()
	return nil
}

func (c *captureSink) Flush() error {
	c.mu.Lock()
	c.flushes++
	c.mu.Unlock()
	return nil
}

func (c *captureSink) Stats() SinkStats { return SinkStats{Endpoint: "capture"} }

func (c *captureSink) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

func (c *captureSink) messages() []sent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

// batches returns the batches sent on topic.
func (c *captureSink) batches(topic string) [][]schema.Tick {
	var out [][]schema.Tick
	for _, m := range c.messages() {
		if m.topic == topic && m.h.Type == schema.Batch {
			out = append(out, m.ticks)
		}
	}
	return out
}

// seqs returns the sequence numbers of every tick sent on topic, in order.
func (c *captureSink) seqs(topic string) []uint64 {
	var out []uint64
	for _, b := range c.batches(topic) {
		for _, t := range b {
			out = append(out, t.Seq)
		}
	}
	return out
}

func newTestPublisher(t *testing.T, opts ...Option) (*Publisher, *captureSink) {
	t.Helper()
	sink := &captureSink{}
	p, err := New(append([]Option{WithSink(sink)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p, sink
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestSequenceNumbersArePerTopic(t *testing.T) {
	p, sink := newTestPublisher(t)
	for _, topic := range []string{"A", "B", "A", "A", "B", "C"} {
		// The caller's Seq is ignored: the publisher numbers ticks.
		if err := p.Publish(topic, schema.Tick{Seq: 999, Price: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string][]uint64{"A": {1, 2, 3}, "B": {1, 2}, "C": {1}} {
		if got := sink.seqs(topic); !slices.Equal(got, want) {
			t.Errorf("topic %s sequences %v, want %v", topic, got, want)
		}
	}
}

func TestEveryMessageCarriesSessionAndStreamSequence(t *testing.T) {
	p, sink := newTestPublisher(t)
	for i := range 100 {
		p.Publish(fmt.Sprint("T", i%7), schema.Tick{})
	}
	p.Close()
	msgs := sink.messages()
	if len(msgs) < 3 {
		t.Fatalf("only %d messages", len(msgs))
	}
	for i, m := range msgs {
		if m.h.Session != p.Session() || p.Session() == 0 {
			t.Fatalf("message %d session %d, publisher %d", i, m.h.Session, p.Session())
		}
		if m.h.StreamSeq != uint64(i+1) {
			t.Fatalf("message %d has stream sequence %d", i, m.h.StreamSeq)
		}
		if m.h.SendTime <= 0 {
			t.Fatalf("message %d has no send time", i)
		}
	}
	other, _ := newTestPublisher(t)
	defer other.Close()
	if other.Session() == p.Session() {
		t.Fatal("two publishers drew the same session id")
	}
}

func TestMessagesChainToTheirTopicsPreviousMessage(t *testing.T) {
	p, sink := newTestPublisher(t, WithMaxBatch(3), WithHeartbeat(time.Hour))
	p.Topic("A").PublishBatch(make([]schema.Tick, 7)) // 3 + 3 + 1
	p.Topic("B").PublishBatch(make([]schema.Tick, 2))
	p.Close() // A and B get their topic heartbeats
	prev := map[string][2]uint64{}
	for _, m := range sink.messages() {
		if m.topic == schema.ControlTopic {
			continue
		}
		want := prev[m.topic]
		if m.h.PrevStreamSeq != want[0] || m.h.PrevTopicSeq != want[1] {
			t.Fatalf("%s message %d: prev (%d, %d), want (%d, %d)", m.topic, m.h.StreamSeq,
				m.h.PrevStreamSeq, m.h.PrevTopicSeq, want[0], want[1])
		}
		before := m.h.TopicSeq // a heartbeat carries no ticks
		if m.h.Type == schema.Batch {
			before = m.ticks[0].Seq - 1
		}
		prev[m.topic] = [2]uint64{m.h.StreamSeq, before}
	}
	if len(prev) != 2 {
		t.Fatalf("topics %v", prev)
	}
}

func TestBatchesAreSplitAtMaxBatch(t *testing.T) {
	p, sink := newTestPublisher(t, WithMaxBatch(4))
	ticks := make([]schema.Tick, 10)
	if _, err := p.Topic("X").PublishBatch(ticks); err != nil {
		t.Fatal(err)
	}
	p.Close()
	var sizes []int
	for _, b := range sink.batches("X") {
		sizes = append(sizes, len(b))
	}
	if !slices.Equal(sizes, []int{4, 4, 2}) {
		t.Fatalf("batch sizes %v, want [4 4 2]", sizes)
	}
	if got := sink.seqs("X"); !slices.Equal(got, seqRange(1, 10)) {
		t.Fatalf("sequences %v", got)
	}
}

// The tests of time run in a synctest bubble: the clock is fake and moves
// only when every goroutine of the bubble is blocked, so "a millisecond
// before the delay" and "at the delay" are exact, on any machine.

func TestFlushDelayGathersTicksIntoOneMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, sink := newTestPublisher(t, WithFlushDelay(time.Second), WithHeartbeat(time.Hour))
		for range 5 {
			p.Publish("X", schema.Tick{})
			time.Sleep(100 * time.Millisecond)
		}
		synctest.Wait()
		if b := sink.batches("X"); len(b) != 0 {
			t.Fatalf("batches %v sent 500ms into a 1s flush delay", b)
		}
		time.Sleep(500 * time.Millisecond) // a second after the first tick
		synctest.Wait()
		if b := sink.batches("X"); len(b) != 1 || len(b[0]) != 5 {
			t.Fatalf("batches %v at the end of the flush delay, want one of 5 ticks", b)
		}
		p.Close()
	})
}

func TestFullBatchCutsTheFlushDelayShort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, sink := newTestPublisher(t, WithFlushDelay(time.Hour), WithMaxBatch(3), WithHeartbeat(time.Hour))
		for range 3 {
			p.Publish("X", schema.Tick{})
		}
		synctest.Wait() // no time passes
		if b := sink.batches("X"); len(b) != 1 || len(b[0]) != 3 {
			t.Fatalf("batches %v, want one full batch of 3 at once, not after the hour-long delay", b)
		}
		p.Close()
	})
}

func TestCloseOwesTopicHeartbeatsAndEndOfSession(t *testing.T) {
	p, sink := newTestPublisher(t, WithHeartbeat(time.Hour))
	p.Publish("A", schema.Tick{})
	p.Publish("A", schema.Tick{})
	p.Publish("B", schema.Tick{})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	msgs := sink.messages()
	last := msgs[len(msgs)-1]
	if last.h.Type != schema.EndOfSession || last.topic != schema.ControlTopic {
		t.Fatalf("last message %s on %q, want end of session on the control topic", last.h.Type, last.topic)
	}
	hb := map[string]uint64{}
	for _, m := range msgs {
		if m.h.Type == schema.TopicHeartbeat {
			hb[m.topic] = m.h.TopicSeq
		}
	}
	if hb["A"] != 2 || hb["B"] != 1 || len(hb) != 2 {
		t.Fatalf("topic heartbeats %v, want A:2 B:1", hb)
	}
	if !sink.closed {
		t.Fatal("sink not closed")
	}
	if err := p.Publish("A", schema.Tick{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close = %v, want ErrClosed", err)
	}
	if err := p.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
}

func TestIdleTopicGetsHeartbeatWithLastSequence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, sink := newTestPublisher(t, WithHeartbeat(20*time.Millisecond))
		defer p.Close()
		p.Publish("A", schema.Tick{})
		p.Publish("A", schema.Tick{})
		topicHeartbeats := func() (seqs []uint64) {
			for _, m := range sink.messages() {
				if m.topic == "A" && m.h.Type == schema.TopicHeartbeat {
					seqs = append(seqs, m.h.TopicSeq)
				}
			}
			return seqs
		}
		time.Sleep(19 * time.Millisecond)
		synctest.Wait()
		if hb := topicHeartbeats(); len(hb) != 0 {
			t.Fatalf("topic heartbeats %v before the topic was idle for an interval", hb)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if hb := topicHeartbeats(); !slices.Equal(hb, []uint64{2}) {
			t.Fatalf("topic heartbeats %v after an idle interval, want one carrying 2", hb)
		}
	})
}

func TestQueueLimitRefusesInsteadOfGrowing(t *testing.T) {
	sink := &captureSink{gate: make(chan struct{})}
	p, err := New(WithSink(sink), WithQueueLimit(10), WithHeartbeat(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// The sender is stuck in the sink with the session's first heartbeat;
	// the queue fills behind it.
	accepted := 0
	var refused error
	for range 100 {
		if err := p.Publish("X", schema.Tick{}); err != nil {
			refused = err
			break
		}
		accepted++
	}
	if !errors.Is(refused, ErrQueueFull) {
		t.Fatalf("Publish = %v after %d, want ErrQueueFull", refused, accepted)
	}
	if n, err := p.Topic("X").PublishBatch(make([]schema.Tick, 5)); n != 0 || !errors.Is(err, ErrQueueFull) {
		t.Fatalf("PublishBatch = %d, %v, want 0, ErrQueueFull", n, err)
	}
	if s := p.Stats(); s.Rejected != 6 || s.Published != uint64(accepted) {
		t.Fatalf("stats %+v, want 6 rejected and %d published", s, accepted)
	}
	close(sink.gate)
	p.Close()
	// Refused ticks took no sequence number: no gap for subscribers.
	if got := sink.seqs("X"); !slices.Equal(got, seqRange(1, uint64(accepted))) {
		t.Fatalf("sequences %v, want 1..%d", got, accepted)
	}
}

func TestConcurrentPublishersKeepEveryTopicInOrder(t *testing.T) {
	p, sink := newTestPublisher(t, WithMaxBatch(64))
	const goroutines, perTopic = 4, 5000
	topics := []string{"AAPL", "MSFT", "GOOG"}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perTopic {
				topic := topics[(g+i)%len(topics)]
				// Carry the producer's own count so order can be checked.
				if err := p.Publish(topic, schema.Tick{Instrument: uint32(g), Size: int64(i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	p.Close()
	total := 0
	for _, topic := range topics {
		seqs := sink.seqs(topic)
		if !slices.Equal(seqs, seqRange(1, uint64(len(seqs)))) {
			t.Fatalf("topic %s: sequences not 1..n in order", topic)
		}
		// Each producer's ticks stay in that producer's order.
		last := map[uint32]int64{}
		for _, b := range sink.batches(topic) {
			for _, tk := range b {
				if prev, ok := last[tk.Instrument]; ok && tk.Size <= prev {
					t.Fatalf("topic %s: producer %d reordered", topic, tk.Instrument)
				}
				last[tk.Instrument] = tk.Size
			}
		}
		total += len(seqs)
	}
	if total != goroutines*perTopic {
		t.Fatalf("%d ticks arrived, want %d", total, goroutines*perTopic)
	}
}

// discardSink counts and forgets.
type discardSink struct{ n, bytes int }

func (d *discardSink) Send(m Message) error { d.n++; d.bytes += len(m.Body); return nil }
func (d *discardSink) Flush() error         { return nil }
func (d *discardSink) Stats() SinkStats     { return SinkStats{} }
func (d *discardSink) Close() error         { return nil }

func TestPublishAllocatesNothing(t *testing.T) {
	p, err := New(WithSink(&discardSink{}), WithHeartbeat(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	topic := p.Topic("X")
	warm := func() {
		for range 10_000 {
			topic.Publish(schema.Tick{})
			p.Publish("Y", schema.Tick{})
		}
		time.Sleep(10 * time.Millisecond) // let the sender grow its buffers
	}
	warm()
	// Both the Publish calls and the sender's encoding run while this
	// counts: the whole path, not just the caller's side.
	allocs := testing.AllocsPerRun(1000, func() {
		topic.Publish(schema.Tick{})
		p.Publish("Y", schema.Tick{})
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Publish, want 0", allocs)
	}
}

func BenchmarkPublish(b *testing.B) {
	for _, batch := range []int{1, 16, 128} {
		b.Run(fmt.Sprint("maxbatch=", batch), func(b *testing.B) {
			sink := &discardSink{}
			p, _ := New(WithSink(sink), WithMaxBatch(batch), WithHeartbeat(time.Hour))
			topic := p.Topic("X")
			b.ReportAllocs()
			for b.Loop() {
				for topic.Publish(schema.Tick{}) != nil {
				}
			}
			p.Close()
			b.ReportMetric(float64(b.N)/float64(sink.n), "ticks/msg")
		})
	}
}

// A batch larger than the room left is queued in part, in order: the caller
// learns how many went (and that the rest did not), so that it can offer
// the rest again or drop them and count them, once.
func TestPublishBatchQueuesWhatFitsAndSaysHowMany(t *testing.T) {
	sink := &captureSink{gate: make(chan struct{})}
	p, err := New(WithSink(sink), WithQueueLimit(10), WithHeartbeat(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// The sender is stuck in the sink with the first heartbeat.
	ticks := make([]schema.Tick, 25)
	for i := range ticks {
		ticks[i].Price = int64(i)
	}
	n, err := p.Topic("X").PublishBatch(ticks)
	if n != 10 || !errors.Is(err, ErrQueueFull) {
		t.Fatalf("PublishBatch(25 ticks) = %d, %v; want 10, ErrQueueFull", n, err)
	}
	if n, err := p.Topic("Y").PublishBatch(ticks[:1]); n != 0 || !errors.Is(err, ErrQueueFull) {
		t.Fatalf("PublishBatch on a full queue = %d, %v", n, err)
	}
	if s := p.Stats(); s.Published != 10 || s.Rejected != 16 {
		t.Fatalf("published %d, rejected %d; want 10 and 16", s.Published, s.Rejected)
	}
	close(sink.gate)
	p.Close()
	var prices []int64
	for _, b := range sink.batches("X") {
		for _, tk := range b {
			prices = append(prices, tk.Price)
		}
	}
	if want := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(prices, want) {
		t.Fatalf("sent prices %v, want the first ten in order %v", prices, want)
	}
	if n, err := p.Topic("X").PublishBatch(ticks); n != 0 || !errors.Is(err, ErrClosed) {
		t.Fatalf("PublishBatch after Close = %d, %v", n, err)
	}
}

// Topics starting with a zero byte are the feed's own: subscribers would
// take such messages for control messages and count them as decode errors.
func TestReservedTopicsAreRefused(t *testing.T) {
	p, sink := newTestPublisher(t)
	for _, name := range []string{schema.ControlTopic, "\x00", "\x00mine"} {
		if err := p.Publish(name, schema.Tick{}); !errors.Is(err, ErrReservedTopic) {
			t.Errorf("Publish(%q) = %v, want ErrReservedTopic", name, err)
		}
		if n, err := p.Topic(name).PublishBatch(make([]schema.Tick, 3)); n != 0 || !errors.Is(err, ErrReservedTopic) {
			t.Errorf("PublishBatch(%q) = %d, %v; want 0, ErrReservedTopic", name, n, err)
		}
	}
	if err := p.Publish("A\x00", schema.Tick{}); err != nil {
		t.Errorf("a zero byte inside a topic is the user's business: %v", err)
	}
	p.Close()
	for _, m := range sink.messages() {
		if m.topic != schema.ControlTopic && m.topic != "A\x00" {
			t.Errorf("sent on %q", m.topic)
		}
		if m.topic == schema.ControlTopic && m.h.Type == schema.Batch {
			t.Error("ticks sent on the control topic")
		}
	}
	if s := p.Stats(); s.Published != 1 || s.Rejected != 0 {
		t.Errorf("published %d, rejected %d; want 1 and 0 (a refused topic is not a full queue)", s.Published, s.Rejected)
	}
}

// The publisher owns its sinks from WithSink on: when New fails, it closes
// them, whatever the order of the options.
func TestNewClosesItsSinksWhenItFails(t *testing.T) {
	for _, opts := range [][]Option{
		{WithSink(&captureSink{}), WithMaxBatch(0)},
		{WithMaxBatch(0), WithSink(&captureSink{})},
		{WithSink(&captureSink{}), WithHeartbeat(0), WithSink(&captureSink{})},
	} {
		if _, err := New(opts...); err == nil {
			t.Fatal("New accepted a bad option")
		}
		cfg := config{}
		for _, o := range opts {
			o(&cfg)
		}
		for i, s := range cfg.sinks {
			if !s.(*captureSink).isClosed() {
				t.Errorf("sink %d left open", i)
			}
		}
	}
}

func (c *captureSink) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}
