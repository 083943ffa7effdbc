package publisher_test

import (
	"context"
	"log"
	"time"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/schema"
)

// A publisher on two lines (A and B: one session on both), with its
// batching and heartbeats set. Package tickcast does the same in one call;
// this is the layered way, for every option.
func ExampleNew() {
	a, err := endpoint.Sink("tcp://127.0.0.1:6121")
	if err != nil {
		log.Fatal(err)
	}
	b, err := endpoint.Sink("epgm://127.0.0.1;239.192.1.21:6122", endpoint.WithRate(100_000))
	if err != nil {
		a.Close()
		log.Fatal(err)
	}
	pub, err := publisher.New(publisher.WithSink(a, b), // owned by the publisher from here on
		publisher.WithMaxBatch(64), publisher.WithFlushDelay(0), publisher.WithHeartbeat(500*time.Millisecond))
	if err != nil {
		log.Fatal(err) // New closed a and b
	}
	defer pub.Close()

	aapl := pub.Topic("AAPL") // a handle: no map lookup per tick
	if err := aapl.Publish(schema.Tick{Kind: schema.KindTrade, Price: 1892300, PriceExp: -4, Size: 100}); err != nil {
		log.Print(err) // publisher.ErrQueueFull: the tick was not published
	}
}

// Waiting for subscribers before publishing what they must not miss.
func ExamplePublisher_WaitSubscribers() {
	sink, err := endpoint.Sink("tcp://127.0.0.1:6123")
	if err != nil {
		log.Fatal(err)
	}
	pub, err := publisher.New(publisher.WithSink(sink))
	if err != nil {
		log.Fatal(err)
	}
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Two subscribers, each with its subscriptions in, on every tcp:// and
	// ipc:// sink.
	if err := pub.WaitSubscribers(ctx, 2); err != nil {
		log.Fatal(err) // context.DeadlineExceeded: they did not come
	}
	pub.Publish("AAPL", schema.Tick{Kind: schema.KindTrade, Price: 1892300, PriceExp: -4, Size: 100})
}
