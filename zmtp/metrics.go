package zmtp

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/tickcast/tickcast/port"
)

var _ port.Instrumented = (*Pub)(nil)

// MaxPeerSeries bounds the subscribers AppendMetrics reports one by one:
// those the Pub has dropped messages for, the most first. A subscriber
// that keeps up has no series of its own: peers come and go (a TCP
// subscriber's address changes with each connection), and a time series
// per connection would grow without bound.
const MaxPeerSeries = 10

// AppendMetrics appends the Pub's own counters, how many connected
// subscribers it has dropped messages for and the longest queue, and, for
// the (at most MaxPeerSeries) subscribers it dropped the most for, their
// queues and drops labelled with their address: the slow consumers.
func (p *Pub) AppendMetrics(dst []port.Metric) []port.Metric {
	ps := p.PubStats()
	peers := p.Peers()
	var slow []PeerStats
	longest := 0
	for _, pe := range peers {
		longest = max(longest, pe.Queued)
		if pe.Dropped > 0 {
			slow = append(slow, pe)
		}
	}
	dst = append(dst,
		port.Metric{Name: "zmtp_queued_bytes", Help: "Bytes queued for all subscribers together.", Value: float64(ps.Queued)},
		port.Metric{Name: "sink_longest_queue_messages", Help: "The most messages queued for one subscriber now.", Value: float64(longest)},
		port.Metric{Name: "sink_slow_subscribers", Help: "Connected subscribers that messages were dropped for (over their high-water mark).", Value: float64(len(slow))},
		port.Metric{Name: "zmtp_handshake_errors_total", Help: "Connections that failed the ZMTP handshake.", Counter: true, Value: float64(ps.HandshakeErrors)},
		port.Metric{Name: "zmtp_refused_connections_total", Help: "Connections closed at once: over the peer limit.", Counter: true, Value: float64(ps.Refused)},
		port.Metric{Name: "zmtp_cut_subscribers_total", Help: "Subscribers disconnected: too slow, never subscribed, or broke the protocol.", Counter: true, Value: float64(ps.Cut)},
	)
	slices.SortFunc(slow, func(a, b PeerStats) int { return cmp.Compare(b.Dropped, a.Dropped) })
	for _, pe := range slow[:min(len(slow), MaxPeerSeries)] {
		id := peerLabel(pe)
		dst = append(dst,
			port.Metric{Name: "sink_subscriber_queued_messages", Help: "Messages queued for a subscriber that messages were dropped for.",
				Value: float64(pe.Queued), Label: "peer", LabelValue: id},
			port.Metric{Name: "sink_subscriber_dropped_messages_total", Help: "Messages dropped for one connected subscriber at its high-water mark (a slow consumer).",
				Counter: true, Value: float64(pe.Dropped), Label: "peer", LabelValue: id},
		)
	}
	return dst
}

// peerLabel names a subscriber: its address, or, for the peers of a unix
// socket (which all have the same), its connection's number.
func peerLabel(pe PeerStats) string {
	if strings.Contains(pe.Addr, ":") {
		return pe.Addr
	}
	return "conn#" + strconv.FormatUint(pe.ID, 10)
}

var _ port.Instrumented = (*Sub)(nil)

// AppendMetrics appends, for a Sub that binds (ListenSub), the publishers
// connected to it and those it refused or cut off; a Sub that connects has
// none of its own.
func (s *Sub) AppendMetrics(dst []port.Metric) []port.Metric {
	if s.srv == nil {
		return dst
	}
	st := s.Stats()
	return append(dst,
		port.Metric{Name: "zmtp_publishers", Help: "Publishers connected to a subscriber that binds.", Value: float64(st.Publishers)},
		port.Metric{Name: "zmtp_refused_publishers_total", Help: "Publishers' connections closed at once: over the publisher limit.", Counter: true, Value: float64(st.Refused)},
		port.Metric{Name: "zmtp_publisher_handshake_errors_total", Help: "Publishers' connections that failed the ZMTP handshake.", Counter: true, Value: float64(st.HandshakeErrors)},
		port.Metric{Name: "zmtp_cut_publishers_total", Help: "Publishers cut off for breaking the protocol or its bounds.", Counter: true, Value: float64(st.Cut)},
	)
}
