package inproc_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tickcast/tickcast/inproc"
	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/subscriber"
)

// A whole feed over inproc://, through the real publisher and subscriber:
// every tick of the subscribed topics arrives, in order, with no gap, then
// the end of the session; the topic not subscribed to never arrives.
func TestAFeedOverInproc(t *testing.T) {
	t.Parallel()
	const perTopic = 5000
	ns := inproc.NewNamespace()
	// The subscriber reads while the publisher publishes; the queue is
	// made deep enough that it never overflows, whatever the scheduling:
	// this test is about order and completeness (overflow has its own).
	sink, err := inproc.Listen("inproc://feed", inproc.WithNamespace(ns), inproc.WithSendHWM(100_000))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := publisher.New(publisher.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	src, err := inproc.Dial("inproc://feed", inproc.WithNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := subscriber.New(ctx, subscriber.WithSource(src), subscriber.WithTopics("AAPL", "MSFT"))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := pub.WaitSubscribers(ctx, 1); err != nil {
		t.Fatal(err)
	}

	go func() {
		for i := range perTopic {
			for _, topic := range []string{"AAPL", "MSFT", "TSLA"} {
				if err := pub.Publish(topic, schema.Tick{Price: int64(i), Kind: schema.KindTrade}); err != nil {
					t.Error(err)
					return
				}
			}
		}
		pub.Close() // the end of the session
	}()

	next := map[string]uint64{"AAPL": 1, "MSFT": 1}
	lineUp := false
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("Next: %v (AAPL at %d, MSFT at %d)", err, next["AAPL"], next["MSFT"])
		}
		switch ev.Kind {
		case subscriber.EventLineUp:
			lineUp = true
		case subscriber.EventTicks:
			topic := string(ev.Topic)
			want, ok := next[topic]
			if !ok {
				t.Fatalf("ticks on %q, not subscribed to", topic)
			}
			for _, tk := range ev.Ticks {
				if tk.Seq != want || tk.Price != int64(want-1) {
					t.Fatalf("%s: tick %d (price %d), want %d", topic, tk.Seq, tk.Price, want)
				}
				want++
			}
			next[topic] = want
		case subscriber.EventGap, subscriber.EventBackwards:
			t.Fatalf("%s on %s: %+v", ev.Kind, ev.Topic, ev.Gap)
		case subscriber.EventSessionEnd:
			if next["AAPL"] != perTopic+1 || next["MSFT"] != perTopic+1 {
				t.Fatalf("the session ended with AAPL at %d, MSFT at %d, want %d", next["AAPL"], next["MSFT"], perTopic+1)
			}
			if !lineUp {
				t.Fatal("no LineUp before the ticks")
			}
			if st := sub.Stats(); st.Ticks != 2*perTopic || st.Gaps != 0 {
				t.Fatalf("subscriber stats: %d ticks, %d gaps", st.Ticks, st.Gaps)
			}
			return
		}
	}
}

// A subscriber that does not keep up loses ticks at the publisher's
// high-water mark: it learns exactly how many from the gaps reported
// (received + missing = published), and still gets the end of the session,
// which queues within the reserve for control messages.
func TestASlowSubscriberLearnsExactlyWhatItLost(t *testing.T) {
	t.Parallel()
	const ticks = 2000
	ns := inproc.NewNamespace()
	sink, err := inproc.Listen("inproc://feed", inproc.WithNamespace(ns), inproc.WithSendHWM(10))
	if err != nil {
		t.Fatal(err)
	}
	// One tick a message, so that the mark counts ticks.
	pub, err := publisher.New(publisher.WithSink(sink), publisher.WithMaxBatch(1))
	if err != nil {
		t.Fatal(err)
	}
	src, err := inproc.Dial("inproc://feed", inproc.WithNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := subscriber.New(ctx, subscriber.WithSource(src))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := pub.WaitSubscribers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// The subscriber reads nothing until the publisher has closed.
	for i := range ticks {
		if err := pub.Publish("AAPL", schema.Tick{Price: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	dropped := sink.Stats().Dropped
	if dropped == 0 {
		t.Fatal("nothing dropped: the test did not overflow the queue")
	}
	var received, missing uint64
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("Next: %v (%d received, %d missing)", err, received, missing)
		}
		switch ev.Kind {
		case subscriber.EventTicks:
			received += uint64(len(ev.Ticks))
		case subscriber.EventGap:
			missing += ev.Gap.Missing
		case subscriber.EventSessionEnd:
			if received+missing != ticks {
				t.Fatalf("%d received + %d missing, want %d published (%d messages dropped at the publisher)",
					received, missing, ticks, dropped)
			}
			if missing != dropped {
				t.Fatalf("%d ticks missing, %d one-tick messages dropped at the publisher", missing, dropped)
			}
			return
		}
	}
}

func Example() {
	// A namespace of its own: the default one (no WithNamespace) is the
	// process-wide registry, as endpoint.Sink and endpoint.Source use.
	ns := inproc.NewNamespace()
	sub, _ := inproc.Dial("inproc://prices", inproc.WithNamespace(ns)) // before the publisher: it waits
	defer sub.Close()
	sub.Subscribe([]byte("AAPL"))
	pub, _ := inproc.Listen("inproc://prices", inproc.WithNamespace(ns))
	defer pub.Close()
	pub.WaitSubscribers(context.Background(), 1)

	pub.Send(publisher.Message{Topic: []byte("AAPL"), Body: []byte("189.23")})
	pub.Send(publisher.Message{Topic: []byte("MSFT"), Body: []byte("415.30")})
	pub.Flush()

	b, _ := sub.Next(time.Now().Add(time.Second))
	fmt.Println(len(b.Events), "line event")
	for _, m := range b.Msgs {
		fmt.Printf("%s %s\n", m.Topic, m.Body)
	}
	// Output:
	// 1 line event
	// AAPL 189.23
}
