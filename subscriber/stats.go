package subscriber

import (
	"fmt"
	"sync/atomic"

	"github.com/tickcast/tickcast/port"
)

// LineState is what a line is doing now.
type LineState uint8

// Line states.
const (
	LineConnecting LineState = iota // nothing heard yet
	LineActive                      // heard within the stale timeout
	LineStale                       // silent past the stale timeout
	LineLost                        // the transport lost its connection
	LineEnded                       // its session ended; silence expected
)

func (s LineState) String() string {
	switch s {
	case LineConnecting:
		return "connecting"
	case LineActive:
		return "active"
	case LineStale:
		return "stale"
	case LineLost:
		return "down"
	case LineEnded:
		return "ended"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// LineStats are one line's counters. With several lines of one feed (A/B),
// Gaps and Missing are what this line lost, whether another line filled it
// or not; Stats.Gaps and Stats.Missing are what the application lost.
type LineStats struct {
	Endpoint      string
	State         LineState
	Messages      uint64 // messages received, whatever they were
	Bytes         uint64 // bytes of those messages
	Ticks         uint64 // ticks this line delivered first
	Gaps          uint64 // holes in this line's own sequence
	Missing       uint64 // ticks those holes lost on this line
	DecodeErrors  uint64 // malformed or foreign messages, skipped
	Duplicates    uint64 // ticks another line (or this one) had brought already
	Filtered      uint64 // messages on topics not subscribed, skipped
	Connects      uint64
	Disconnects   uint64
	Restarts      uint64 // the line's publisher started a new session
	Stale         uint64 // times the line went stale
	TransportLoss uint64 // packets the transport reported lost
	// Implausible counts messages dropped because what they claimed could
	// not be true: a stream or topic sequence further ahead than the
	// publisher can have gone since the line last heard it, a heartbeat
	// interval out of range. A buggy or hostile sender; the feed's state
	// did not move.
	Implausible uint64
	// Backwards counts ticks whose sequence went back on this line (each
	// line brings a topic in order): reported by EventBackwards, not
	// delivered.
	Backwards uint64
	// TopicsRefused counts messages on new topics dropped at the topic
	// limit (WithMaxTopics).
	TopicsRefused uint64
	// Transport holds the line's own measurements, if its source has any
	// (port.Instrumented: a PGM line's NAKs, repairs and losses). Add
	// leaves it alone.
	Transport []port.Metric
}

// Add adds o's counters to s's.
func (s *LineStats) Add(o LineStats) {
	s.Messages += o.Messages
	s.Bytes += o.Bytes
	s.Ticks += o.Ticks
	s.Gaps += o.Gaps
	s.Missing += o.Missing
	s.DecodeErrors += o.DecodeErrors
	s.Duplicates += o.Duplicates
	s.Filtered += o.Filtered
	s.Connects += o.Connects
	s.Disconnects += o.Disconnects
	s.Restarts += o.Restarts
	s.Stale += o.Stale
	s.TransportLoss += o.TransportLoss
	s.Implausible += o.Implausible
	s.Backwards += o.Backwards
	s.TopicsRefused += o.TopicsRefused
}

// Stats are a subscriber's counters: what the application got, and per line.
type Stats struct {
	Ticks   uint64 // ticks delivered
	Gaps    uint64 // gaps reported (EventGap): holes no line filled
	Missing uint64 // ticks those gaps lost
	// TopicsExpired counts topics forgotten after WithTopicIdle unheard.
	TopicsExpired uint64
	// Recovery (WithRecovery): ticks delivered through it (counted in
	// Ticks too), replies taken, and ticks asked for and not recovered
	// (counted in Missing too); holes not asked for because too many
	// were in flight, replies that came after their request was given up,
	// and recovered messages that were malformed or of another session.
	Recovered, Recoveries, Unrecovered               uint64
	RecoverySkipped, RecoveryLate, RecoveryMalformed uint64
	// Snapshots (WithSnapshot): topics started from a snapshot, snapshot
	// values older than what a topic had already delivered (skipped), and
	// snapshots that could not be had.
	Snapshots, SnapshotsStale, SnapshotsFailed uint64
	Lines                                      []LineStats // per line
	Total                                      LineStats   // the lines' counters added up
}

// counter is a counter with one writer (the goroutine calling Next) and any
// number of readers. The writer's load-then-store is a plain move on common
// hardware: no locked instruction on the hot path, yet readers never see a
// torn value.
type counter struct{ v atomic.Uint64 }

func (c *counter) add(n uint64) { c.v.Store(c.v.Load() + n) }
func (c *counter) get() uint64  { return c.v.Load() }
func (c *counter) set(n uint64) { c.v.Store(n) }

// lineCounters are a line's counters as the feed updates them.
type lineCounters struct {
	messages, bytes, ticks, gaps, missing, decodeErrors, duplicates, filtered counter
	connects, disconnects, restarts, stale, transportLoss                     counter
	implausible, backwards, topicsRefused                                     counter
	state                                                                     counter // a LineState
}

func (c *lineCounters) snapshot(endpoint string) LineStats {
	return LineStats{
		Endpoint: endpoint, State: LineState(c.state.get()),
		Messages: c.messages.get(), Bytes: c.bytes.get(), Ticks: c.ticks.get(),
		Gaps: c.gaps.get(), Missing: c.missing.get(), DecodeErrors: c.decodeErrors.get(),
		Duplicates: c.duplicates.get(), Filtered: c.filtered.get(),
		Connects: c.connects.get(), Disconnects: c.disconnects.get(), Restarts: c.restarts.get(),
		Stale: c.stale.get(), TransportLoss: c.transportLoss.get(),
		Implausible: c.implausible.get(), Backwards: c.backwards.get(), TopicsRefused: c.topicsRefused.get(),
	}
}
