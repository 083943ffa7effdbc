package inproc

import (
	"strconv"

	"github.com/tickcast/tickcast/port"
)

var _ port.Instrumented = (*Pub)(nil)

// AppendMetrics appends the Pub's own counters and, for each connected
// subscriber, its queue and its drops at the high-water mark, labelled with
// its connection number: the slow consumer is the one whose drops grow.
func (p *Pub) AppendMetrics(dst []port.Metric) []port.Metric {
	peers := p.Peers()
	queued := 0
	for _, pe := range peers {
		queued += pe.QueuedBytes
	}
	dst = append(dst,
		port.Metric{Name: "inproc_queued_bytes", Help: "Bytes of message buffers queued for all subscribers together (a buffer shared by several counts for each).", Value: float64(queued)},
		port.Metric{Name: "inproc_cut_subscribers_total", Help: "Subscribers disconnected, and connected again, for slowness.", Counter: true, Value: float64(p.cut.Load())},
	)
	for _, pe := range peers {
		id := strconv.FormatUint(pe.ID, 10)
		dst = append(dst,
			port.Metric{Name: "inproc_subscriber_queued_messages", Help: "Messages queued for one connected subscriber.",
				Value: float64(pe.Queued), Label: "peer", LabelValue: id},
			port.Metric{Name: "inproc_subscriber_queued_bytes", Help: "Bytes of message buffers queued for one connected subscriber.",
				Value: float64(pe.QueuedBytes), Label: "peer", LabelValue: id},
			port.Metric{Name: "inproc_subscriber_dropped_messages_total", Help: "Messages dropped for one connected subscriber at its high-water mark (a slow consumer).",
				Counter: true, Value: float64(pe.Dropped), Label: "peer", LabelValue: id},
		)
	}
	return dst
}
