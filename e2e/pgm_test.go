package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/subscriber"
)

// epgmEndpoint draws a multicast group and port on 127.0.0.1 that no other
// test uses at the same time.
func epgmEndpoint() string {
	return fmt.Sprintf("epgm://127.0.0.1;239.192.%d.%d:%d", 100+rand.IntN(100), 1+rand.IntN(250), 20_000+rand.IntN(30_000))
}

func TestPGMPublisherVanishesGoesStaleAndRestarts(t *testing.T) {
	ep := epgmEndpoint()
	open := func() (*publisher.Publisher, publisher.Sink) {
		sink, err := endpoint.Sink(ep)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := publisher.New(publisher.WithSink(sink), publisher.WithHeartbeat(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		return pub, sink
	}
	src, err := endpoint.Source(ep)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := subscriber.New(context.Background(), subscriber.WithSource(src))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	events := &eventLog{t: t, sub: sub}
	next := events.next

	pub1, sink1 := open()
	defer pub1.Close()
	next(subscriber.EventSessionStart) // its first heartbeat: we are in
	for range 10 {
		pub1.Publish("X", schema.Tick{})
	}
	next(subscriber.EventTicks)
	// The publisher's transport goes away without an end of session: after
	// three heartbeat intervals of silence the line is stale.
	sink1.Close()
	if ev := next(subscriber.EventStale); ev.Session != pub1.Session() {
		t.Fatalf("stale %+v", ev)
	}
	// A new publisher on the endpoint (a new PGM session, a new feed
	// session): a session change, then its ticks from 1, and no gap.
	pub2, _ := open()
	defer pub2.Close()
	for range 5 {
		pub2.Publish("X", schema.Tick{})
	}
	ev := next(subscriber.EventSessionStart)
	if ev.PrevSession != pub1.Session() || ev.Session != pub2.Session() {
		t.Fatalf("session start %+v, want %d -> %d", ev, pub1.Session(), pub2.Session())
	}
	ev = next(subscriber.EventTicks)
	if ev.Session != pub2.Session() || ev.Ticks[0].Seq != 1 {
		t.Fatalf("first ticks of the new session: %+v", ev)
	}
	if st := sub.Stats(); st.Gaps != 0 {
		t.Fatalf("gaps across the restart: %+v", st)
	}
}

func TestPGMLateJoinHasNoFalseGap(t *testing.T) {
	ep := epgmEndpoint()
	sink, err := endpoint.Sink(ep)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := publisher.New(publisher.WithSink(sink), publisher.WithMaxBatch(64))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // a busy feed, with messages spanning packets
		defer close(done)
		ticks := make([]schema.Tick, 50)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			pub.Topic(fmt.Sprint("SYM", i%20)).PublishBatch(ticks[:1+i%50])
			time.Sleep(100 * time.Microsecond)
		}
	}()
	defer func() { close(stop); <-done }()
	time.Sleep(300 * time.Millisecond) // the feed is well under way

	src, err := endpoint.Source(ep)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := subscriber.New(context.Background(), subscriber.WithSource(src))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	deadline := time.Now().Add(time.Second)
	topics := map[string]bool{}
	for time.Now().Before(deadline) || len(topics) < 20 {
		ev, err := sub.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind {
		case subscriber.EventTicks:
			topics[string(ev.Topic)] = true
		case subscriber.EventGap:
			t.Fatalf("a false gap at join: %s %+v", ev.Topic, ev.Gap)
		}
	}
	st := sub.Stats()
	if st.Total.DecodeErrors != 0 || st.Ticks == 0 {
		t.Fatalf("after a late join: %+v", st)
	}
}
