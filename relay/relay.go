// Package relay forwards a tickcast feed from one line to other endpoints,
// unchanged: a fan-out point, a bridge between transports, and with Drop a
// lossy link for testing how subscribers report loss.
package relay

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/schema"
)

// Relay forwards every message its source receives to its sinks.
type Relay struct {
	src   port.Source
	sinks []port.Sink
	// Drop, if set, is asked about every batch of ticks but a topic's
	// first; the batches it chooses are not forwarded. Heartbeats and
	// session ends always are.
	drop func(topic []byte, m *schema.Message) bool
	// seen holds the topics forwarded in the current session. A topic's
	// first batch is where a subscriber joins the topic: it can tell that
	// one message before that point was lost (schema.Header.PrevStreamSeq),
	// not how much if several were. A lossy link that dropped first batches
	// would test that limit rather than the feed, so it never does.
	seen    map[string]struct{}
	session uint64

	forwarded, dropped, droppedTicks atomic.Uint64
}

// New returns a relay from src to sinks. Drop may be nil.
func New(src port.Source, drop func(topic []byte, m *schema.Message) bool, sinks ...port.Sink) *Relay {
	return &Relay{src: src, sinks: sinks, drop: drop, seen: make(map[string]struct{})}
}

// Stats are a relay's counters.
type Stats struct {
	Forwarded    uint64 // messages forwarded
	Dropped      uint64 // batches dropped on purpose
	DroppedTicks uint64 // ticks in those batches
}

// Stats returns the counters; safe from any goroutine.
func (r *Relay) Stats() Stats {
	return Stats{Forwarded: r.forwarded.Load(), Dropped: r.dropped.Load(), DroppedTicks: r.droppedTicks.Load()}
}

// maxSeen bounds the topics a relay remembers per session: beyond it,
// topics it does not know are forwarded whole (never dropped on purpose).
const maxSeen = 1 << 20

// joined reports whether topic was forwarded before in session, and
// records that it has been now.
func (r *Relay) joined(topic []byte, session uint64) bool {
	if session != r.session {
		clear(r.seen)
		r.session = session
	}
	if _, ok := r.seen[string(topic)]; ok {
		return true
	}
	if len(r.seen) < maxSeen {
		r.seen[string(topic)] = struct{}{}
	}
	return false
}

// Run subscribes its source to every topic and forwards until ctx is done
// or the source fails, then closes the source (not the sinks: the caller
// owns them).
func (r *Relay) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { r.src.Close() })
	defer stop()
	defer r.src.Close()
	if err := r.src.Subscribe(nil); err != nil {
		return err
	}
	var m schema.Message
	for {
		b, err := r.src.Next(time.Time{})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, raw := range b.Msgs {
			if raw.Frames != 2 {
				continue // not a tickcast message: nothing to relay it as
			}
			decoded := m.Decode(raw.Body) == nil
			if decoded && m.Type == schema.Batch && r.drop != nil && r.joined(raw.Topic, m.Session) && r.drop(raw.Topic, &m) {
				r.dropped.Add(1)
				r.droppedTicks.Add(uint64(m.Len()))
				continue
			}
			control := decoded && (m.Type == schema.Heartbeat || m.Type == schema.TopicHeartbeat || m.Type == schema.EndOfSession)
			msg := port.Message{Topic: raw.Topic, Body: raw.Body, Control: control}
			var errs []error
			for _, s := range r.sinks {
				errs = append(errs, s.Send(msg))
			}
			if err := errors.Join(errs...); err != nil {
				return err
			}
			r.forwarded.Add(1)
		}
		for _, s := range r.sinks {
			if err := s.Flush(); err != nil {
				return err
			}
		}
	}
}
