package subscriber

import "sync/atomic"

// LineStats are one line's counters.
type LineStats struct {
	Endpoint      string
	Messages      uint64 // messages received, whatever they were
	Bytes         uint64 // bytes of those messages
	Ticks         uint64 // ticks delivered from this line
	Gaps          uint64 // gaps detected on this line
	Missing       uint64 // ticks those gaps lost
	DecodeErrors  uint64 // malformed or foreign messages, skipped
	Duplicates    uint64 // ticks already delivered, skipped
	Filtered      uint64 // messages on topics not subscribed, skipped
	Connects      uint64
	Disconnects   uint64
	Restarts      uint64 // the line's publisher started a new session
	Stale         uint64 // times the line went stale
	TransportLoss uint64 // packets the transport reported lost
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
}

// Stats are a subscriber's counters: per line and in total.
type Stats struct {
	Lines []LineStats
	Total LineStats
}

// counter is a counter with one writer (the goroutine calling Next) and any
// number of readers. The writer's load-then-store is a plain move on common
// hardware: no locked instruction on the hot path, yet readers never see a
// torn value.
type counter struct{ v atomic.Uint64 }

func (c *counter) add(n uint64) { c.v.Store(c.v.Load() + n) }
func (c *counter) get() uint64  { return c.v.Load() }

// lineCounters are a line's counters as the feed updates them.
type lineCounters struct {
	messages, bytes, ticks, gaps, missing, decodeErrors, duplicates, filtered counter
	connects, disconnects, restarts, stale, transportLoss                     counter
}

func (c *lineCounters) snapshot(endpoint string) LineStats {
	return LineStats{
		Endpoint: endpoint,
		Messages: c.messages.get(), Bytes: c.bytes.get(), Ticks: c.ticks.get(),
		Gaps: c.gaps.get(), Missing: c.missing.get(), DecodeErrors: c.decodeErrors.get(),
		Duplicates: c.duplicates.get(), Filtered: c.filtered.get(),
		Connects: c.connects.get(), Disconnects: c.disconnects.get(), Restarts: c.restarts.get(),
		Stale: c.stale.get(), TransportLoss: c.transportLoss.get(),
	}
}
