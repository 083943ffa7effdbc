// Command gaps shows what a subscriber reports when messages are lost: a
// publisher's feed goes through a relay that drops one batch in seventeen, and
// the subscriber behind it reports each hole exactly (which ticks, of which
// topic), including the last ticks of a topic before it went quiet.
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/tickcast/tickcast"
	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/relay"
	"github.com/tickcast/tickcast/schema"
)

const (
	feed  = "tcp://127.0.0.1:7711" // the publisher
	lossy = "tcp://127.0.0.1:7712" // the relay's output
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	pub, err := tickcast.NewPublisher(feed)
	if err != nil {
		log.Fatal(err)
	}

	// The lossy link: forward feed to lossy, dropping every seventeenth batch.
	from, err := endpoint.Source(feed)
	if err != nil {
		log.Fatal(err)
	}
	to, err := endpoint.Sink(lossy)
	if err != nil {
		log.Fatal(err)
	}
	defer to.Close()
	n := 0
	drop := func(topic []byte, m *schema.Message) bool { n++; return n%17 == 0 }
	r := relay.New(from, drop, to)
	relayCtx, stopRelay := context.WithCancel(ctx)
	defer stopRelay()
	go r.Run(relayCtx)

	sub, err := tickcast.Subscribe(ctx, lossy, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	// Wait for the whole chain: the relay subscribed to the publisher, and
	// the subscriber to the relay.
	if err := pub.WaitSubscribers(ctx, 1); err != nil {
		log.Fatal(err)
	}
	if err := to.(port.SubscriberWaiter).WaitSubscribers(ctx, 1); err != nil {
		log.Fatal(err)
	}

	go func() {
		for i := range 500 {
			for _, t := range []string{"AAPL", "MSFT"} {
				pub.Publish(t, tickcast.Tick{Kind: tickcast.Trade, Price: 1_000_000 + int64(i), PriceExp: -4, Size: 10})
			}
			time.Sleep(50 * time.Microsecond) // small batches: many to drop
		}
		pub.Close() // a last heartbeat per topic reveals a loss at the very end
	}()

	var ticks, missing, gaps uint64
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		switch ev.Kind {
		case tickcast.EventTicks:
			ticks += uint64(len(ev.Ticks))
		case tickcast.EventGap:
			gaps++
			missing += ev.Gap.Missing
			how := "a later tick"
			if ev.Gap.Heartbeat {
				how = "a heartbeat"
			}
			if gaps <= 5 {
				fmt.Printf("gap: %s ticks %d-%d lost (%d), seen by %s\n",
					ev.Topic, ev.Gap.Expected, ev.Gap.Received-1, ev.Gap.Missing, how)
			}
		case tickcast.EventSessionEnd:
			stopRelay() // the publisher is gone: no reconnecting to it
			rs := r.Stats()
			fmt.Printf("received %d ticks; %d gaps, %d ticks missing\n", ticks, gaps, missing)
			fmt.Printf("the relay dropped %d batches, %d ticks: exact: %v\n",
				rs.Dropped, rs.DroppedTicks, rs.DroppedTicks == missing && ticks+missing == 1000)
			return
		}
	}
}
