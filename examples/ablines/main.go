// Command ablines publishes one feed on two multicast lines, A and B (PGM
// over UDP, on the loopback interface), and reads both: each tick is
// delivered once, from whichever line brings it first, and a tick lost on
// one line is filled by the other. Exchanges send their feeds this way.
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/tickcast/tickcast"
)

// Multicast endpoints name their interface: here 127.0.0.1, so nothing
// leaves this host.
const (
	lineA = "epgm://127.0.0.1;239.192.77.1:7701"
	lineB = "epgm://127.0.0.1;239.192.77.2:7702"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// The subscriber first: a multicast publisher cannot know who listens,
	// so nothing can wait for the subscriber's join but the subscriber.
	sub, err := tickcast.Subscribe(ctx, lineA, nil, tickcast.WithLine(lineB))
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()

	pub, err := tickcast.NewPublisher(lineA, tickcast.WithLine(lineB))
	if err != nil {
		log.Fatal(err)
	}
	const perTopic = 1000
	topics := []string{"AAPL", "MSFT", "GOOG", "AMZN"}
	go func() {
		for i := range perTopic {
			for _, t := range topics {
				tick := tickcast.Tick{Kind: tickcast.Trade, Price: 1_000_000 + int64(i), PriceExp: -4, Size: 100}
				for pub.Publish(t, tick) == tickcast.ErrQueueFull {
					time.Sleep(time.Millisecond)
				}
			}
			if i%100 == 0 {
				time.Sleep(time.Millisecond) // a feed, not a burst
			}
		}
		pub.Close() // the end of the session, on both lines
	}()

	var ticks, missing uint64
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		switch ev.Kind {
		case tickcast.EventTicks:
			ticks += uint64(len(ev.Ticks))
		case tickcast.EventGap:
			missing += ev.Gap.Missing
		case tickcast.EventSessionEnd:
			st := sub.Stats()
			fmt.Printf("received %d of %d ticks, %d missing\n", ticks, perTopic*len(topics), missing)
			for _, l := range st.Lines {
				fmt.Printf("  %s: first with %d ticks, %d duplicates, %d lost on the line\n",
					l.Endpoint, l.Ticks, l.Duplicates, l.Missing)
			}
			return
		}
	}
}
