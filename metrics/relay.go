package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/recovery"
	"github.com/tickcast/tickcast/relay"
)

// Relay is a prometheus.Collector of a relay's counters, its source's and
// its sinks'.
type Relay struct {
	r  *relay.Relay
	mu sync.Mutex // guards e
	e  *emitter
}

var _ prometheus.Collector = (*Relay)(nil)

// NewRelay returns a collector of r's counters, its source's (labelled
// line="0" and its endpoint) and its sinks'. A recovery.Server among the
// sinks is left to NewRecovery, so that relays feeding one service (one
// per line of a feed) do not report it twice.
func NewRelay(r *relay.Relay, opts ...Option) *Relay {
	return &Relay{r: r, e: newEmitter(configure(opts))}
}

// Describe describes nothing: the collector is unchecked.
func (c *Relay) Describe(chan<- *prometheus.Desc) {}

// Collect sends the relay's counters as they are now.
func (c *Relay) Collect(ch chan<- prometheus.Metric) {
	s := c.r.Stats()
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.e
	e.counter(ch, "tickcast_relay_forwarded_messages_total", "Messages forwarded.", s.Forwarded)
	e.counter(ch, "tickcast_relay_ticks_total", "Ticks in the messages forwarded.", s.Ticks)
	e.counter(ch, "tickcast_relay_filtered_messages_total", "Messages on topics not forwarded (SetTopics), skipped.", s.Filtered)
	e.counter(ch, "tickcast_relay_dropped_batches_total", "Batches dropped on purpose (--drop).", s.Dropped)
	e.counter(ch, "tickcast_relay_dropped_ticks_total", "Ticks in the batches dropped on purpose.", s.DroppedTicks)
	if src := c.r.Source(); src != nil {
		if in, ok := src.(port.Instrumented); ok {
			e.transport(ch, in.AppendMetrics(nil), "line", "0", "endpoint", src.Endpoint())
		}
	}
	for _, k := range c.r.Sinks() {
		if _, ok := k.(*recovery.Server); ok {
			continue
		}
		var tr []port.Metric
		if in, ok := k.(port.Instrumented); ok {
			tr = in.AppendMetrics(nil)
		}
		e.sink(ch, k.Stats(), 0, tr)
	}
}

// Recovery is a prometheus.Collector of a recovery service's counters and
// its history's.
type Recovery struct {
	s  *recovery.Server
	mu sync.Mutex // guards e
	e  *emitter
}

var _ prometheus.Collector = (*Recovery)(nil)

// NewRecovery returns a collector of s's counters.
func NewRecovery(s *recovery.Server, opts ...Option) *Recovery {
	return &Recovery{s: s, e: newEmitter(configure(opts))}
}

// Describe describes nothing: the collector is unchecked.
func (c *Recovery) Describe(chan<- *prometheus.Desc) {}

// Collect sends the service's counters as they are now.
func (c *Recovery) Collect(ch chan<- prometheus.Metric) {
	s := c.s.ServerStats()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, h, r := c.e, s.History, s.Replier
	e.counter(ch, "tickcast_recovery_requests_total", "Requests answered, whatever the answer.", s.Requests)
	e.counter(ch, "tickcast_recovery_replays_total", "Replay requests answered with messages.", s.Replays)
	e.counter(ch, "tickcast_recovery_snapshots_total", "Snapshot requests answered.", s.Snapshots)
	e.counter(ch, "tickcast_recovery_not_available_total", "Requests for what the history no longer (or never) held.", s.NotAvailable)
	e.counter(ch, "tickcast_recovery_bad_requests_total", "Malformed or unknown requests.", s.BadRequests)
	e.counter(ch, "tickcast_recovery_messages_served_total", "Messages sent in replay replies.", s.MessagesServed)
	e.counter(ch, "tickcast_recovery_snapshot_ticks_served_total", "Last values sent in snapshot replies.", s.TicksServed)
	e.gauge(ch, "tickcast_recovery_history_messages", "Messages held in the history now.", float64(h.Messages))
	e.gauge(ch, "tickcast_recovery_history_bytes", "Bytes held in the history now.", float64(h.Bytes))
	e.gauge(ch, "tickcast_recovery_history_topics", "Topics known to the history (their last values are kept).", float64(h.Topics))
	e.counter(ch, "tickcast_recovery_history_added_total", "Messages stored in the history.", h.Added)
	e.counter(ch, "tickcast_recovery_history_evicted_total", "Messages evicted from the history, by age or bytes.", h.Evicted)
	e.counter(ch, "tickcast_recovery_history_duplicates_total", "Messages the history held already (the other line of an A/B pair).", h.Duplicates)
	e.counter(ch, "tickcast_recovery_history_ignored_total", "Messages not stored: control, malformed, or of a replaced session.", h.Ignored)
	e.counter(ch, "tickcast_recovery_history_topics_refused_total", "Messages on new topics beyond the topic limit, not stored.", h.TopicsRefused)
	e.counter(ch, "tickcast_recovery_history_sessions_total", "Sessions held, one after another.", h.Sessions)
	ep := r.Endpoint
	e.gauge(ch, "tickcast_recovery_peers", "Clients connected to the service now.", float64(r.Peers), "endpoint", ep)
	e.counter(ch, "tickcast_recovery_malformed_total", "Malformed messages from clients, dropped.", r.Malformed, "endpoint", ep)
	e.counter(ch, "tickcast_recovery_cut_total", "Clients cut off for breaking the protocol or not reading.", r.Cut, "endpoint", ep)
	e.counter(ch, "tickcast_recovery_idle_total", "Clients closed after idling.", r.Idle, "endpoint", ep)
	e.counter(ch, "tickcast_recovery_refused_total", "Connections refused over the client limit.", r.Refused, "endpoint", ep)
	e.counter(ch, "tickcast_recovery_handshake_errors_total", "Connections that failed the ZMTP handshake.", r.HandshakeErrors, "endpoint", ep)
}
