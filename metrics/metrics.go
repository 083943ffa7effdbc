// Package metrics exports tickcast's counters to Prometheus: a
// prometheus.Collector for a publisher, a subscriber, a relay and a
// recovery service, and an HTTP server for /metrics.
//
//	reg := metrics.NewRegistry() // or any prometheus.Registerer
//	reg.MustRegister(metrics.NewSubscriber(sub))
//	srv, err := metrics.Listen("127.0.0.1:9464", reg, logger)
//
// The collectors read the counters the packages already keep (their Stats)
// when Prometheus scrapes, so exporting costs the feed nothing between
// scrapes. The one thing they cannot read from counters is latency:
// Subscriber.Observe, called with each event, fills a histogram of it (and,
// if asked, counters per topic).
//
// Names follow Prometheus's conventions: tickcast_ and the layer
// (publisher, sink, subscriber, line, relay, recovery), base units (bytes,
// seconds), _total for counters. Labels are bounded: endpoint and line name
// the sinks and lines a process opened; peer, the (at most 10) subscribers
// a sink dropped the most messages for; topic only with WithTopics, and at
// most that many topics. The metrics a transport keeps of its own (a PGM
// line's NAKs, repairs and losses, a sink's slow subscribers) are exported
// as tickcast_pgm_..., tickcast_zmtp_..., tickcast_inproc_... and
// tickcast_sink_..., from port.Instrumented. docs/operations.md lists them
// all, with PromQL for a gap storm, a lossy line and a slow subscriber.
//
// The collectors are unchecked (they describe nothing up front, because a
// transport's metrics are known only once it runs): two collectors of the
// same kind in one registry need WithLabels to tell them apart.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickcast/tickcast/port"
)

// Option configures a collector.
type Option func(*config)

type config struct {
	labels    prometheus.Labels
	maxTopics int
}

// WithLabels adds constant labels to every metric of the collector (say,
// feed="equities"), to tell apart two collectors of one kind in a
// registry.
func WithLabels(l prometheus.Labels) Option { return func(c *config) { c.labels = l } }

// WithTopics makes Subscriber.Observe count ticks, gaps and missing ticks
// per topic for the first n topics it sees (a topic label on
// tickcast_topic_... metrics); the ticks of later topics are counted under
// topic="_other". Without it (or with n ≤ 0) there is no topic label: a
// feed's topics are unbounded, a time series per topic is not free.
func WithTopics(n int) Option { return func(c *config) { c.maxTopics = n } }

// OtherTopics is the topic label of topics beyond WithTopics' limit.
const OtherTopics = "_other"

func configure(opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	return c
}

// emitter builds const metrics for one collector: descriptors are made once
// per metric name and label set, and kept (their number is bounded by the
// names in this package and the transports').
type emitter struct {
	labels prometheus.Labels
	descs  map[string]*prometheus.Desc
}

func newEmitter(c config) *emitter {
	return &emitter{labels: c.labels, descs: make(map[string]*prometheus.Desc)}
}

func (e *emitter) desc(name, help string, labels []string) *prometheus.Desc {
	key := name
	for _, l := range labels {
		key += "\x00" + l
	}
	d, ok := e.descs[key]
	if !ok {
		d = prometheus.NewDesc(name, help, labels, e.labels)
		e.descs[key] = d
	}
	return d
}

// counter and gauge send one metric; labels alternate names and values.
func (e *emitter) counter(ch chan<- prometheus.Metric, name, help string, v uint64, labels ...string) {
	e.send(ch, prometheus.CounterValue, name, help, float64(v), labels)
}

func (e *emitter) gauge(ch chan<- prometheus.Metric, name, help string, v float64, labels ...string) {
	e.send(ch, prometheus.GaugeValue, name, help, v, labels)
}

func (e *emitter) send(ch chan<- prometheus.Metric, t prometheus.ValueType, name, help string, v float64, labels []string) {
	names := make([]string, 0, len(labels)/2)
	values := make([]string, 0, len(labels)/2)
	for i := 0; i+1 < len(labels); i += 2 {
		names = append(names, labels[i])
		values = append(values, labels[i+1])
	}
	ch <- prometheus.MustNewConstMetric(e.desc(name, help, names), t, v, values...)
}

// transport sends a transport's own metrics with the given labels added.
func (e *emitter) transport(ch chan<- prometheus.Metric, ms []port.Metric, labels ...string) {
	for _, m := range ms {
		l := labels
		if m.Label != "" {
			l = append(append([]string(nil), labels...), m.Label, m.LabelValue)
		}
		t := prometheus.GaugeValue
		if m.Counter {
			t = prometheus.CounterValue
		}
		e.send(ch, t, "tickcast_"+m.Name, m.Help, m.Value, l)
	}
}

// sink sends one sink's counters, labelled with its endpoint.
func (e *emitter) sink(ch chan<- prometheus.Metric, s port.SinkStats, errors uint64, tr []port.Metric) {
	ep := s.Endpoint
	e.counter(ch, "tickcast_sink_messages_total", "Messages a sink accepted.", s.Messages, "endpoint", ep)
	e.counter(ch, "tickcast_sink_bytes_total", "Bytes of the messages a sink accepted (topic and body).", s.Bytes, "endpoint", ep)
	e.counter(ch, "tickcast_sink_dropped_messages_total",
		"Messages a sink did not deliver: for a subscriber over its high-water mark or gone with them queued (tcp, ipc, inproc), or ahead of the rate limit (epgm, pgm).", s.Dropped, "endpoint", ep)
	e.counter(ch, "tickcast_sink_errors_total", "Errors a sink returned.", errors, "endpoint", ep)
	if s.Peers >= 0 {
		e.gauge(ch, "tickcast_sink_peers", "Subscribers connected to a sink now.", float64(s.Peers), "endpoint", ep)
	}
	if s.Subscribed >= 0 {
		e.gauge(ch, "tickcast_sink_subscribed_peers", "Subscribers connected to a sink with at least one subscription.", float64(s.Subscribed), "endpoint", ep)
	}
	e.transport(ch, tr, "endpoint", ep)
}

func itoa(i int) string { return strconv.Itoa(i) }
