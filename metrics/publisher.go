package metrics

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickcast/tickcast/publisher"
)

// Publisher is a prometheus.Collector of a publisher's counters and its
// sinks'.
type Publisher struct {
	p  *publisher.Publisher
	mu sync.Mutex // guards e: Collect may be called concurrently
	e  *emitter
}

var _ prometheus.Collector = (*Publisher)(nil)

// NewPublisher returns a collector of p's counters.
func NewPublisher(p *publisher.Publisher, opts ...Option) *Publisher {
	return &Publisher{p: p, e: newEmitter(configure(opts))}
}

// Describe describes nothing: the collector is unchecked.
func (c *Publisher) Describe(chan<- *prometheus.Desc) {}

// Collect sends the publisher's counters as they are now.
func (c *Publisher) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Stats()
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.e
	e.gauge(ch, "tickcast_publisher_session_info", "The publisher's session: its id is the session label.", 1, "session", fmt.Sprintf("%#x", s.Session))
	e.counter(ch, "tickcast_publisher_ticks_total", "Ticks accepted by Publish.", s.Published)
	e.counter(ch, "tickcast_publisher_rejected_ticks_total", "Ticks refused with ErrQueueFull (the producer outran the sinks).", s.Rejected)
	e.counter(ch, "tickcast_publisher_messages_total", "Messages sent, heartbeats included.", s.Messages)
	e.counter(ch, "tickcast_publisher_bytes_total", "Bytes of the messages sent (topic and body), once for all sinks.", s.Bytes)
	e.counter(ch, "tickcast_publisher_heartbeats_total", "Control and topic heartbeats sent.", s.Heartbeats)
	for _, k := range s.Sinks {
		e.sink(ch, k.SinkStats, k.Errors, k.Transport)
	}
}
