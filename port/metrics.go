package port

// Metric is one of a transport's own measurements, beyond what SinkStats
// and the feed layers count: a PGM line's NAKs and repairs, a TCP
// publisher's queued bytes. Monitoring (package metrics) exports them with
// the line's or sink's endpoint as a label, prefixed with tickcast_.
type Metric struct {
	// Name is lower_snake_case and names its unit, as Prometheus names
	// do: "pgm_naks_sent_total", "zmtp_queued_bytes".
	Name string
	Help string
	// Counter marks a count that only goes up (its Name ends in _total);
	// otherwise the value is a gauge, a level now.
	Counter bool
	Value   float64
	// Label and LabelValue, if Label is set, tell apart the instances of a
	// metric within one transport (a TCP publisher's subscribers, by
	// address). A transport keeps their number bounded.
	Label, LabelValue string
}

// Instrumented is implemented by transports that have measurements of their
// own. AppendMetrics appends them to dst and returns it; it may be called
// from any goroutine, while the transport works.
type Instrumented interface {
	AppendMetrics(dst []Metric) []Metric
}
