// Command monitored runs a feed in one process over inproc://, with a feed
// handler that keeps up and one that does not, and serves Prometheus
// metrics for all three: a scrape shows which handler is slow, how many
// ticks the publisher dropped for it, and that it reported every one of
// them as a gap.
package main

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickcast/tickcast"
	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/metrics"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// A small high-water mark, so that the slow handler loses ticks soon.
	pub, err := tickcast.NewPublisher("inproc://quotes", tickcast.WithEndpointOptions(endpoint.WithSendHWM(64)))
	if err != nil {
		log.Fatal(err)
	}
	reg := metrics.NewRegistry()
	reg.MustRegister(metrics.NewPublisher(pub))
	var wg sync.WaitGroup
	for _, h := range []struct {
		name  string
		pause time.Duration // per event: the slow one does real work
	}{{"fast", 0}, {"slow", 200 * time.Microsecond}} {
		sub, err := tickcast.Subscribe(ctx, "inproc://quotes", []string{"AAPL", "MSFT"})
		if err != nil {
			log.Fatal(err)
		}
		defer sub.Close()
		m := metrics.NewSubscriber(sub, metrics.WithLabels(prometheus.Labels{"handler": h.name}))
		reg.MustRegister(m)
		wg.Go(func() {
			for {
				ev, err := sub.Next(ctx)
				if err != nil {
					log.Fatal(err)
				}
				m.Observe(ev)
				if ev.Kind == tickcast.EventSessionEnd {
					return
				}
				time.Sleep(h.pause)
			}
		})
	}
	srv, err := metrics.Listen("127.0.0.1:0", reg, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	if err := pub.WaitSubscribers(ctx, 2); err != nil {
		log.Fatal(err)
	}
	for i := range 10_000 {
		pub.Publish([]string{"AAPL", "MSFT"}[i%2], tickcast.Tick{Kind: tickcast.Trade, Price: int64(i), Size: 1})
		if i%100 == 99 {
			time.Sleep(time.Millisecond) // 100 ticks a millisecond, in bursts
		}
	}
	pub.Close()
	wg.Wait()

	// What Prometheus would see.
	resp, err := http.Get(srv.URL())
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		for _, name := range []string{"tickcast_publisher_ticks_total", "tickcast_subscriber_ticks_total",
			"tickcast_subscriber_missing_ticks_total", "tickcast_sink_dropped_messages_total"} {
			if strings.HasPrefix(line, name) {
				fmt.Println(line)
			}
		}
	}
}
