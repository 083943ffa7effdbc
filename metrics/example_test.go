package metrics_test

import (
	"context"
	"log"

	"github.com/tickcast/tickcast"
	"github.com/tickcast/tickcast/metrics"
)

// A feed handler that Prometheus can scrape: its subscriber's counters,
// latency and per-topic counts at http://127.0.0.1:9464/metrics.
func Example() {
	ctx := context.Background()
	sub, err := tickcast.Subscribe(ctx, "tcp://127.0.0.1:6001", []string{"AAPL", "MSFT"})
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()

	m := metrics.NewSubscriber(sub, metrics.WithTopics(100))
	reg := metrics.NewRegistry() // with the Go runtime's and the process's metrics
	reg.MustRegister(m)
	srv, err := metrics.Listen("127.0.0.1:9464", reg, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		m.Observe(ev) // latency, recoveries, per-topic counts
		// ... handle ev
	}
}
