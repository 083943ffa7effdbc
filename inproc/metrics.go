package inproc

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/tickcast/tickcast/port"
)

var _ port.Instrumented = (*Pub)(nil)

// MaxPeerSeries bounds the subscribers AppendMetrics reports one by one:
// those the Pub has dropped messages for, the most first (as zmtp does).
const MaxPeerSeries = 10

// AppendMetrics appends the Pub's own counters, how many connected
// subscribers it has dropped messages for and the longest queue, and, for
// the (at most MaxPeerSeries) subscribers it dropped the most for, their
// queues and drops labelled with their connection's number: the slow
// consumers.
func (p *Pub) AppendMetrics(dst []port.Metric) []port.Metric {
	peers := p.Peers()
	queued, longest := 0, 0
	var slow []PeerStats
	for _, pe := range peers {
		queued += pe.QueuedBytes
		longest = max(longest, pe.Queued)
		if pe.Dropped > 0 {
			slow = append(slow, pe)
		}
	}
	dst = append(dst,
		port.Metric{Name: "inproc_queued_bytes", Help: "Bytes of message buffers queued for all subscribers together (a buffer shared by several counts for each).", Value: float64(queued)},
		port.Metric{Name: "sink_longest_queue_messages", Help: "The most messages queued for one subscriber now.", Value: float64(longest)},
		port.Metric{Name: "sink_slow_subscribers", Help: "Connected subscribers that messages were dropped for (over their high-water mark).", Value: float64(len(slow))},
		port.Metric{Name: "inproc_cut_subscribers_total", Help: "Subscribers disconnected, and connected again, for slowness.", Counter: true, Value: float64(p.cut.Load())},
	)
	slices.SortFunc(slow, func(a, b PeerStats) int { return cmp.Compare(b.Dropped, a.Dropped) })
	for _, pe := range slow[:min(len(slow), MaxPeerSeries)] {
		id := "conn#" + strconv.FormatUint(pe.ID, 10)
		dst = append(dst,
			port.Metric{Name: "sink_subscriber_queued_messages", Help: "Messages queued for a subscriber that messages were dropped for.",
				Value: float64(pe.Queued), Label: "peer", LabelValue: id},
			port.Metric{Name: "sink_subscriber_dropped_messages_total", Help: "Messages dropped for one connected subscriber at its high-water mark (a slow consumer).",
				Counter: true, Value: float64(pe.Dropped), Label: "peer", LabelValue: id},
		)
	}
	return dst
}
