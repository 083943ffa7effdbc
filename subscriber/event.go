package subscriber

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/tickcast/tickcast/schema"
)

// EventKind says what an Event reports.
type EventKind uint8

// Event kinds.
const (
	// EventTicks delivers ticks of one topic, in sequence order, each once.
	EventTicks EventKind = iota + 1
	// EventGap reports ticks of one topic that will not arrive: Gap says
	// which. It comes before the ticks that revealed it.
	EventGap
	// EventSessionStart reports a session seen for the first time. With
	// PrevSession set, the publisher of a line restarted: its sequence
	// numbers start again, and that is not a gap.
	EventSessionStart
	// EventSessionEnd reports that the publisher closed its session.
	EventSessionEnd
	// EventStale reports a line that has been silent (no data and no
	// heartbeat) for longer than its stale timeout.
	EventStale
	// EventActive reports a stale line that is heard again.
	EventActive
	// EventLineUp and EventLineDown report the transport connecting and
	// losing its connection; EventLineLoss reports transport-level loss
	// (Detail says what). Missing ticks are reported by EventGap.
	EventLineUp
	EventLineDown
	EventLineLoss
	// EventBackwards reports that a line's sequence for a topic went back
	// (Gap.Expected is where it was, Gap.Received where it went): a
	// publisher's bug, two publishers with one session id, or forged
	// messages. Those ticks are not delivered. Reported once until the
	// line is back where it was.
	EventBackwards
	// EventTopicLimit reports that a session reached the topic limit
	// (WithMaxTopics): messages on topics new to it are dropped and
	// counted (LineStats.TopicsRefused) until idle topics expire.
	EventTopicLimit
	// EventRecovered reports ticks of one topic that no line brought and
	// the recovery service did (WithRecovery): Gap says which
	// (Expected..Received-1, Missing of them), Took how long after the
	// hole was asked for. The ticks follow as an EventTicks whose Line is
	// the recovery service. What the service could not give is an
	// EventGap, its Detail saying why.
	EventRecovered
	// EventSnapshot delivers a topic's last value when the subscriber joins
	// a session (WithSnapshot): Ticks holds the one tick, the topic's live
	// ticks follow from the next sequence number, with no gap and no
	// duplicate (those at or below it are dropped). With no Topic, it
	// reports that the snapshot could not be had (Detail says why): the
	// topics start at their first tick heard, as without snapshots.
	EventSnapshot
)

func (k EventKind) String() string {
	switch k {
	case EventTicks:
		return "ticks"
	case EventGap:
		return "gap"
	case EventSessionStart:
		return "session-start"
	case EventSessionEnd:
		return "session-end"
	case EventStale:
		return "stale"
	case EventActive:
		return "active"
	case EventLineUp:
		return "line-up"
	case EventLineDown:
		return "line-down"
	case EventLineLoss:
		return "line-loss"
	case EventBackwards:
		return "backwards"
	case EventTopicLimit:
		return "topic-limit"
	case EventRecovered:
		return "recovered"
	case EventSnapshot:
		return "snapshot"
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event is one thing a Subscriber delivers. Which fields are set depends on
// Kind. Topic and Ticks are views into the subscriber's buffers: they are
// valid until the next call to Next; copy what you keep.
type Event struct {
	Kind    EventKind
	Line    string // the endpoint of the line it came from
	Session uint64 // the publisher session

	Topic     []byte        // EventTicks, EventGap, EventBackwards
	Ticks     []schema.Tick // EventTicks
	StreamSeq uint64        // EventTicks: the message's stream sequence
	SendTime  int64         // EventTicks: the publisher's send time, ns since the epoch
	RecvTime  time.Time     // EventTicks: when the transport read it

	Gap         Gap           // EventGap, EventBackwards, EventRecovered
	Took        time.Duration // EventRecovered: from asking for the hole to the ticks
	PrevSession uint64        // EventSessionStart: the session this line carried before
	Detail      string        // EventLineUp/Down/Loss, EventStale: what happened; EventGap: why recovery failed
}

// Gap describes ticks that were published on a topic and will not be
// delivered: sequence numbers Expected up to Received-1.
type Gap struct {
	Expected uint64 // the sequence number that was due
	Received uint64 // the sequence number the topic is now at
	Missing  uint64 // Received - Expected: how many ticks are lost
	// Heartbeat is true when a topic heartbeat revealed the gap (the topic
	// went quiet after the lost ticks), false when a later tick did.
	Heartbeat bool
}

// Clone returns a copy of e that owns its Topic and Ticks: an event to keep
// past the next call to Next.
func (e Event) Clone() Event {
	e.Topic = bytes.Clone(e.Topic)
	e.Ticks = slices.Clone(e.Ticks)
	return e
}
