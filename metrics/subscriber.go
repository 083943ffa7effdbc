package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickcast/tickcast/subscriber"
)

// Subscriber is a prometheus.Collector of a subscriber's counters, its
// lines' and their transports'; with Observe, of latency too.
type Subscriber struct {
	s       *subscriber.Subscriber
	cfg     config
	latency prometheus.Histogram
	recover prometheus.Histogram
	skewed  atomic.Uint64
	// Sessions started (restarts included) and ended, as Observe saw them.
	sessions, ends atomic.Uint64

	// Per topic (WithTopics): topics is Observe's own index; list, what
	// Collect reads, grows by copy-on-write.
	topics map[string]*topicCounters
	list   atomic.Pointer[[]*topicCounters]
	other  *topicCounters

	mu sync.Mutex // guards e: Collect may be called concurrently
	e  *emitter
}

type topicCounters struct {
	topic                 string
	ticks, gaps, missing  atomic.Uint64
	recovered, recoveries atomic.Uint64
}

var _ prometheus.Collector = (*Subscriber)(nil)

// LatencyBuckets are the latency histogram's buckets, in seconds: 5 µs to
// 10 s, about three to a decade. The histogram is also a native one (a
// bucket factor of 1.1) for a Prometheus that scrapes those.
var LatencyBuckets = []float64{
	5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
	1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10,
}

// NewSubscriber returns a collector of s's counters.
func NewSubscriber(s *subscriber.Subscriber, opts ...Option) *Subscriber {
	c := configure(opts)
	hist := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: name, Help: help, ConstLabels: c.labels, Buckets: LatencyBuckets,
			NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: 160,
			NativeHistogramMinResetDuration: time.Hour,
		})
	}
	m := &Subscriber{s: s, cfg: c, e: newEmitter(c),
		latency: hist("tickcast_subscriber_latency_seconds",
			"From a message's send time at the publisher to its receipt (Observe); the two clocks must agree."),
		recover: hist("tickcast_subscriber_recovery_seconds",
			"From asking a recovery service for a hole to having its ticks (Observe)."),
		topics: make(map[string]*topicCounters),
		other:  &topicCounters{topic: OtherTopics},
	}
	m.list.Store(&[]*topicCounters{})
	return m
}

// Observe records what the metrics cannot read from the subscriber's
// counters: the latency of each message of ticks (EventTicks: from
// Event.SendTime to Event.RecvTime), how long recoveries took
// (EventRecovered), the sessions that started and ended, and, with
// WithTopics, ticks, gaps and missing ticks per topic. Call it with the events Next returns, from the goroutine calling
// Next. It does not allocate, except for a topic's first event.
func (m *Subscriber) Observe(ev subscriber.Event) {
	switch ev.Kind {
	case subscriber.EventTicks:
		if ev.SendTime > 0 && !ev.RecvTime.IsZero() {
			if d := ev.RecvTime.UnixNano() - ev.SendTime; d >= 0 {
				m.latency.Observe(float64(d) / 1e9)
			} else {
				m.skewed.Add(1)
			}
		}
		if t := m.topic(ev.Topic); t != nil {
			t.ticks.Add(uint64(len(ev.Ticks)))
		}
	case subscriber.EventGap:
		if t := m.topic(ev.Topic); t != nil {
			t.gaps.Add(1)
			t.missing.Add(ev.Gap.Missing)
		}
	case subscriber.EventSessionStart:
		m.sessions.Add(1)
	case subscriber.EventSessionEnd:
		m.ends.Add(1)
	case subscriber.EventRecovered:
		m.recover.Observe(ev.Took.Seconds())
		if t := m.topic(ev.Topic); t != nil {
			t.recoveries.Add(1)
			t.recovered.Add(ev.Gap.Missing)
		}
	}
}

// topic returns topic's counters, nil without WithTopics.
func (m *Subscriber) topic(topic []byte) *topicCounters {
	if m.cfg.maxTopics <= 0 {
		return nil
	}
	if t, ok := m.topics[string(topic)]; ok {
		return t
	}
	if len(m.topics) >= m.cfg.maxTopics {
		return m.other
	}
	t := &topicCounters{topic: string(topic)}
	m.topics[t.topic] = t
	old := *m.list.Load()
	list := append(old[:len(old):len(old)], t) // a new array: Collect may be reading the old one
	m.list.Store(&list)
	return t
}

// Describe describes nothing: the collector is unchecked.
func (m *Subscriber) Describe(chan<- *prometheus.Desc) {}

var lineStates = []subscriber.LineState{
	subscriber.LineConnecting, subscriber.LineActive, subscriber.LineStale, subscriber.LineLost, subscriber.LineEnded,
}

// Collect sends the subscriber's counters as they are now.
func (m *Subscriber) Collect(ch chan<- prometheus.Metric) {
	s := m.s.Stats()
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.e
	e.counter(ch, "tickcast_subscriber_ticks_total", "Ticks delivered to the application.", s.Ticks)
	e.counter(ch, "tickcast_subscriber_gaps_total", "Gaps reported: holes no line and no recovery filled.", s.Gaps)
	e.counter(ch, "tickcast_subscriber_missing_ticks_total", "Ticks those gaps lost.", s.Missing)
	e.counter(ch, "tickcast_subscriber_topics_expired_total", "Topics forgotten after going unheard.", s.TopicsExpired)
	e.counter(ch, "tickcast_subscriber_recovered_ticks_total", "Ticks delivered through a recovery service.", s.Recovered)
	e.counter(ch, "tickcast_subscriber_recoveries_total", "Replies taken from a recovery service.", s.Recoveries)
	e.counter(ch, "tickcast_subscriber_unrecovered_ticks_total", "Ticks asked of a recovery service and not recovered (counted as missing too).", s.Unrecovered)
	e.counter(ch, "tickcast_subscriber_recovery_skipped_total", "Holes not asked for: too many recoveries in flight.", s.RecoverySkipped)
	e.counter(ch, "tickcast_subscriber_recovery_late_total", "Recovery replies that came after their request was given up.", s.RecoveryLate)
	e.counter(ch, "tickcast_subscriber_recovery_malformed_total", "Recovered messages that were malformed or of another session.", s.RecoveryMalformed)
	e.counter(ch, "tickcast_subscriber_snapshots_total", "Topics started from a snapshot.", s.Snapshots)
	e.counter(ch, "tickcast_subscriber_snapshots_stale_total", "Snapshot values older than what the topic had delivered, skipped.", s.SnapshotsStale)
	e.counter(ch, "tickcast_subscriber_snapshots_failed_total", "Snapshots that could not be had.", s.SnapshotsFailed)
	e.counter(ch, "tickcast_subscriber_sessions_total", "Publisher sessions started, restarts included (Observe).", m.sessions.Load())
	e.counter(ch, "tickcast_subscriber_session_ends_total", "Publisher sessions that ended (Observe).", m.ends.Load())
	e.counter(ch, "tickcast_subscriber_latency_skewed_total", "Messages received before their send time (the clocks disagree): not in the latency histogram.", m.skewed.Load())
	for i, l := range s.Lines {
		line, ep := itoa(i), l.Endpoint
		c := func(name, help string, v uint64) { e.counter(ch, name, help, v, "line", line, "endpoint", ep) }
		c("tickcast_line_messages_total", "Messages a line received, whatever they were.", l.Messages)
		c("tickcast_line_bytes_total", "Bytes of the messages a line received.", l.Bytes)
		c("tickcast_line_ticks_total", "Ticks a line delivered first.", l.Ticks)
		c("tickcast_line_gaps_total", "Holes in a line's own sequence, whether another line filled them or not.", l.Gaps)
		c("tickcast_line_missing_ticks_total", "Ticks those holes lost on the line.", l.Missing)
		c("tickcast_line_decode_errors_total", "Malformed or foreign messages a line skipped.", l.DecodeErrors)
		c("tickcast_line_duplicate_ticks_total", "Ticks another line (or this one) had brought already.", l.Duplicates)
		c("tickcast_line_filtered_messages_total", "Messages on topics not subscribed, skipped.", l.Filtered)
		c("tickcast_line_connects_total", "Times a line's transport connected.", l.Connects)
		c("tickcast_line_disconnects_total", "Times a line's transport lost its connection.", l.Disconnects)
		c("tickcast_line_restarts_total", "Times a line's publisher started a new session.", l.Restarts)
		c("tickcast_line_stale_total", "Times a line went silent past its stale timeout.", l.Stale)
		c("tickcast_line_transport_lost_packets_total", "Packets the transport reported lost (PGM: unrecoverable).", l.TransportLoss)
		c("tickcast_line_implausible_messages_total", "Messages dropped for claiming what cannot be true (a buggy or hostile sender).", l.Implausible)
		c("tickcast_line_backwards_ticks_total", "Ticks whose sequence went back on a line.", l.Backwards)
		c("tickcast_line_topics_refused_total", "Messages on new topics dropped at the topic limit.", l.TopicsRefused)
		for _, st := range lineStates {
			v := 0.0
			if l.State == st {
				v = 1
			}
			e.gauge(ch, "tickcast_line_state", "A line's state now: 1 for the state it is in.", v, "line", line, "endpoint", ep, "state", st.String())
		}
		e.transport(ch, l.Transport, "line", line, "endpoint", ep)
	}
	m.latency.Collect(ch)
	m.recover.Collect(ch)
	if m.cfg.maxTopics > 0 {
		// The list is Observe's to append to: read it, never append to it.
		for _, t := range *m.list.Load() {
			m.collectTopic(ch, t)
		}
		m.collectTopic(ch, m.other)
	}
}

func (m *Subscriber) collectTopic(ch chan<- prometheus.Metric, t *topicCounters) {
	e := m.e
	e.counter(ch, "tickcast_topic_ticks_total", "Ticks delivered on a topic (WithTopics).", t.ticks.Load(), "topic", t.topic)
	e.counter(ch, "tickcast_topic_gaps_total", "Gaps reported on a topic (WithTopics).", t.gaps.Load(), "topic", t.topic)
	e.counter(ch, "tickcast_topic_missing_ticks_total", "Ticks lost on a topic (WithTopics).", t.missing.Load(), "topic", t.topic)
	e.counter(ch, "tickcast_topic_recovered_ticks_total", "Ticks recovered on a topic (WithTopics).", t.recovered.Load(), "topic", t.topic)
}
