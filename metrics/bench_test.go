package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickcast/tickcast"
	"github.com/tickcast/tickcast/metrics"
	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/subscriber"
)

// What Observe costs a feed handler per event: a histogram observation,
// and with WithTopics a map lookup and two atomic adds.
func BenchmarkObserve(b *testing.B) {
	for _, topics := range []int{0, 100} {
		b.Run(map[int]string{0: "latency", 100: "latency+topics"}[topics], func(b *testing.B) {
			sub, err := tickcast.Subscribe(context.Background(), "inproc://bench-observe", nil)
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Close()
			m := metrics.NewSubscriber(sub, metrics.WithTopics(topics))
			now := time.Now()
			ev := subscriber.Event{Kind: subscriber.EventTicks, Topic: []byte("AAPL"), Ticks: make([]schema.Tick, 8),
				SendTime: now.Add(-30 * time.Microsecond).UnixNano(), RecvTime: now}
			b.ReportAllocs()
			for b.Loop() {
				m.Observe(ev)
			}
		})
	}
}

// What a scrape costs: gathering a subscriber's metrics (two lines) with
// the Go runtime's and the process's.
func BenchmarkGather(b *testing.B) {
	sub, err := tickcast.Subscribe(context.Background(), "inproc://bench-gather", nil, tickcast.WithLine("inproc://bench-gather-b"))
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	reg := metrics.NewRegistry()
	reg.MustRegister(metrics.NewSubscriber(sub, metrics.WithTopics(100)))
	var g prometheus.Gatherer = reg
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
