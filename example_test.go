package tickcast_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/tickcast/tickcast"
)

// A feed in three calls: NewPublisher and Publish, Subscribe and Next.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := tickcast.NewPublisher("tcp://127.0.0.1:6111")
	if err != nil {
		log.Fatal(err)
	}
	sub, err := tickcast.Subscribe(ctx, "tcp://127.0.0.1:6111", []string{"AAPL"})
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	if err := pub.WaitSubscribers(ctx, 1); err != nil { // the slow joiner
		log.Fatal(err)
	}
	for i := range 3 {
		pub.Publish("AAPL", tickcast.Tick{Kind: tickcast.Trade, Price: 1892300 + int64(i), PriceExp: -4, Size: 100})
	}
	pub.Close()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		switch ev.Kind {
		case tickcast.EventTicks:
			for _, t := range ev.Ticks {
				fmt.Printf("%s #%d %.4f\n", ev.Topic, t.Seq, t.PriceFloat())
			}
		case tickcast.EventSessionEnd:
			return
		}
	}
	// Output:
	// AAPL #1 189.2300
	// AAPL #2 189.2301
	// AAPL #3 189.2302
}

// A feed handler's loop: ticks in sequence order, and what was lost, exactly.
func ExampleSubscribe() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub, err := tickcast.Subscribe(ctx, "tcp://127.0.0.1:6112", []string{"AAPL", "MSFT"})
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			return // the context ended, or Close was called
		}
		switch ev.Kind {
		case tickcast.EventTicks:
			// ev.Ticks is a view: valid until the next call (ev.Clone() keeps it).
		case tickcast.EventGap:
			log.Printf("%s: %d ticks lost (%d to %d)", ev.Topic, ev.Gap.Missing, ev.Gap.Expected, ev.Gap.Received-1)
		case tickcast.EventSessionStart:
			if ev.PrevSession != 0 {
				log.Printf("the publisher restarted: sequences start again")
			}
		case tickcast.EventStale:
			log.Printf("line %s silent: %s", ev.Line, ev.Detail)
		}
	}
}

// The same feed on two lines, A and B: a subscriber on both gets each tick
// once, from whichever line brings it first.
func ExampleWithLine() {
	ctx := context.Background()
	const (
		lineA = "epgm://127.0.0.1;239.192.1.1:5555"
		lineB = "epgm://127.0.0.1;239.192.1.2:5556"
	)
	sub, err := tickcast.Subscribe(ctx, lineA, nil, tickcast.WithLine(lineB))
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	pub, err := tickcast.NewPublisher(lineA, tickcast.WithLine(lineB))
	if err != nil {
		log.Fatal(err)
	}
	defer pub.Close()
}
