// Command hello publishes a few ticks over TCP and subscribes to them, in
// one process: the whole of a tickcast feed in three calls.
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/tickcast/tickcast"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// 1. A publisher: it binds the endpoint.
	pub, err := tickcast.NewPublisher("tcp://127.0.0.1:6001")
	if err != nil {
		log.Fatal(err)
	}

	// 2. A subscriber to AAPL and MSFT (topic prefixes, as in ZeroMQ).
	sub, err := tickcast.Subscribe(ctx, "tcp://127.0.0.1:6001", []string{"AAPL", "MSFT"})
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()

	// A subscriber connects in the background: wait until its
	// subscription has reached the publisher, or the first ticks are
	// published before anyone listens (ZeroMQ's slow joiner).
	if err := pub.WaitSubscribers(ctx, 1); err != nil {
		log.Fatal(err)
	}
	for i := range 3 {
		pub.Publish("AAPL", tickcast.Tick{Kind: tickcast.Trade, Price: 1892300 + int64(i)*100, PriceExp: -4, Size: 100})
		pub.Publish("MSFT", tickcast.Tick{Kind: tickcast.Bid, Price: 4153000 - int64(i)*100, PriceExp: -4, Size: 300})
		pub.Publish("TSLA", tickcast.Tick{Kind: tickcast.Trade, Price: 2480000, PriceExp: -4, Size: 50}) // not subscribed
	}
	pub.Close() // sends what is queued, then the end of the session

	// 3. Events, in order: ticks, gaps (none here), the session's end.
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		switch ev.Kind {
		case tickcast.EventTicks:
			for _, t := range ev.Ticks {
				fmt.Printf("%s #%d %s %.2f x %.0f\n", ev.Topic, t.Seq, t.Kind, t.PriceFloat(), t.SizeFloat())
			}
		case tickcast.EventGap:
			fmt.Printf("%s: ticks %d to %d lost\n", ev.Topic, ev.Gap.Expected, ev.Gap.Received-1)
		case tickcast.EventSessionEnd:
			fmt.Println("the publisher closed its session")
			return
		}
	}
}
