package subscriber_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/subscriber"
)

// A subscriber on two lines of one feed, with its own stale timeout and
// arbitration window. Package tickcast does the same in one call; this is
// the layered way, for every option.
func ExampleNew() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := endpoint.Source("tcp://127.0.0.1:6131")
	if err != nil {
		log.Fatal(err)
	}
	b, err := endpoint.Source("epgm://127.0.0.1;239.192.1.31:6132", endpoint.WithNAKTimers(time.Millisecond, 10*time.Millisecond, 10*time.Millisecond))
	if err != nil {
		a.Close()
		log.Fatal(err)
	}
	sub, err := subscriber.New(ctx, subscriber.WithSource(a, b), // owned by the subscriber from here on
		subscriber.WithTopics("AAPL", "MSFT"),
		subscriber.WithStaleAfter(2*time.Second), subscriber.WithArbitration(20*time.Millisecond))
	if err != nil {
		log.Fatal(err) // New closed a and b
	}
	defer sub.Close()
}

// Reading with a deadline per call, keeping ticks past the next call, and
// changing topics on the way.
func ExampleSubscriber_Next() {
	src, err := endpoint.Source("tcp://127.0.0.1:6133")
	if err != nil {
		log.Fatal(err)
	}
	sub, err := subscriber.New(context.Background(), subscriber.WithSource(src), subscriber.WithTopics("AAPL"))
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	var kept []subscriber.Event
	for len(kept) < 10 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ev, err := sub.Next(ctx)
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			log.Print("nothing for a second")
			continue
		case err != nil:
			log.Fatal(err) // subscriber.ErrClosed, or every line failed
		}
		if ev.Kind == subscriber.EventTicks {
			kept = append(kept, ev.Clone()) // ev.Ticks is reused by the next call
		}
	}
	sub.Subscribe("MSFT")
	sub.Unsubscribe("AAPL")
}
