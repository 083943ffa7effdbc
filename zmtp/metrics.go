package zmtp

import "github.com/tickcast/tickcast/port"

var _ port.Instrumented = (*Pub)(nil)

// AppendMetrics appends the Pub's own counters and, for each connected
// subscriber (at most WithMaxPeers of them), its queue and its drops at the
// high-water mark, labelled with its address: the slow consumer is the one
// whose drops grow.
func (p *Pub) AppendMetrics(dst []port.Metric) []port.Metric {
	ps := p.PubStats()
	dst = append(dst,
		port.Metric{Name: "zmtp_queued_bytes", Help: "Bytes queued for all subscribers together.", Value: float64(ps.Queued)},
		port.Metric{Name: "zmtp_handshake_errors_total", Help: "Connections that failed the ZMTP handshake.", Counter: true, Value: float64(ps.HandshakeErrors)},
		port.Metric{Name: "zmtp_refused_connections_total", Help: "Connections closed at once: over the peer limit.", Counter: true, Value: float64(ps.Refused)},
		port.Metric{Name: "zmtp_cut_subscribers_total", Help: "Subscribers disconnected: too slow, never subscribed, or broke the protocol.", Counter: true, Value: float64(ps.Cut)},
	)
	for _, pe := range p.Peers() {
		dst = append(dst,
			port.Metric{Name: "zmtp_subscriber_queued_messages", Help: "Messages queued for one connected subscriber.",
				Value: float64(pe.Queued), Label: "peer", LabelValue: pe.Addr},
			port.Metric{Name: "zmtp_subscriber_queued_bytes", Help: "Bytes queued for one connected subscriber.",
				Value: float64(pe.QueuedBytes), Label: "peer", LabelValue: pe.Addr},
			port.Metric{Name: "zmtp_subscriber_dropped_messages_total", Help: "Messages dropped for one connected subscriber at its high-water mark (a slow consumer).",
				Counter: true, Value: float64(pe.Dropped), Label: "peer", LabelValue: pe.Addr},
		)
	}
	return dst
}
