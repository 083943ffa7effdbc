// Package relay forwards a tickcast feed from one line to other endpoints,
// unchanged: a fan-out point, a bridge between transports, and with Drop a
// lossy link for testing how subscribers report loss.
package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/schema"
)

// Relay forwards every message its source receives to its sinks, or with
// SetTopics those of some topics.
type Relay struct {
	src   port.Source
	sinks []port.Sink
	// topics are the prefixes forwarded (SetTopics); nil: every topic.
	topics [][]byte
	log    *slog.Logger
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
	// heard is the last session heard, for the log.
	heard uint64
	// lossLog rate-limits the log of transport loss.
	lossLog  time.Time
	lossMore int

	forwarded, ticks, filtered, dropped, droppedTicks atomic.Uint64
}

// New returns a relay from src to sinks. Drop may be nil.
func New(src port.Source, drop func(topic []byte, m *schema.Message) bool, sinks ...port.Sink) *Relay {
	return &Relay{src: src, sinks: sinks, drop: drop, seen: make(map[string]struct{}), log: slog.Default()}
}

// SetTopics limits the relay to the topics that start with one of
// prefixes, as a subscriber's topics do; none, or an empty prefix, is
// every topic (the default). Heartbeats and session ends are forwarded
// whatever the topics. Call it before Run.
func (r *Relay) SetTopics(prefixes ...string) {
	r.topics = nil
	for _, p := range prefixes {
		if p == "" {
			r.topics = nil
			return
		}
		r.topics = append(r.topics, []byte(p))
	}
}

// SetLogger sets the logger (default slog.Default()): the source's line
// events and the sessions heard, with the source's endpoint. Call it
// before Run.
func (r *Relay) SetLogger(l *slog.Logger) { r.log = l }

// Source returns the source the relay reads.
func (r *Relay) Source() port.Source { return r.src }

// Sinks returns the sinks the relay forwards to.
func (r *Relay) Sinks() []port.Sink { return r.sinks }

// Stats are a relay's counters.
type Stats struct {
	Forwarded uint64 // messages forwarded
	Ticks     uint64 // ticks in the batches forwarded
	// Filtered counts messages not forwarded because their topic is not
	// one of SetTopics': those a source that cannot filter upstream (PGM)
	// delivers anyway.
	Filtered     uint64
	Dropped      uint64 // batches dropped on purpose
	DroppedTicks uint64 // ticks in those batches
}

// Stats returns the counters; safe from any goroutine.
func (r *Relay) Stats() Stats {
	return Stats{Forwarded: r.forwarded.Load(), Ticks: r.ticks.Load(), Filtered: r.filtered.Load(),
		Dropped: r.dropped.Load(), DroppedTicks: r.droppedTicks.Load()}
}

// wanted reports whether a message on topic is forwarded: one of the
// topics, or the control topic.
func (r *Relay) wanted(topic []byte) bool {
	if r.topics == nil || bytes.HasPrefix(topic, control) {
		return true
	}
	for _, p := range r.topics {
		if bytes.HasPrefix(topic, p) {
			return true
		}
	}
	return false
}

var control = []byte(schema.ControlTopic)

// subscribe subscribes the source to every topic, or to the topics and
// the control topic, last: all together where the source can (zmtp), so
// that a publisher waiting for subscribers counts the relay with all of
// them.
func (r *Relay) subscribe() error {
	if r.topics == nil {
		return r.src.Subscribe(nil)
	}
	prefixes := append(append([][]byte(nil), r.topics...), control)
	if all, ok := r.src.(interface{ SubscribeAll([][]byte) error }); ok {
		return all.SubscribeAll(prefixes)
	}
	for _, p := range prefixes {
		if err := r.src.Subscribe(p); err != nil {
			return fmt.Errorf("subscribe %q: %w", p, err)
		}
	}
	return nil
}

// lineEvents logs what the source says about its line: its connection at
// info, its loss at warn (at most one record a second, the others
// counted).
func (r *Relay) lineEvents(evs []port.LineEvent) {
	for _, ev := range evs {
		switch ev.Kind {
		case port.LineUp:
			r.log.Info("relay: line up", "endpoint", r.src.Endpoint(), "detail", ev.Detail)
		case port.LineDown:
			r.log.Info("relay: line down", "endpoint", r.src.Endpoint(), "detail", ev.Detail)
		case port.LineLoss:
			if now := time.Now(); now.Sub(r.lossLog) >= time.Second {
				r.log.Warn("relay: the transport lost data it could not recover; subscribers see the gaps",
					"endpoint", r.src.Endpoint(), "lost_packets", ev.Lost, "detail", ev.Detail, "others_since_last_log", r.lossMore)
				r.lossLog, r.lossMore = now, 0
			} else {
				r.lossMore++
			}
		}
	}
}

// heardSession logs a session heard for the first time (the last one
// only: a session coming back after another is logged again).
func (r *Relay) heardSession(session uint64) {
	if session == r.heard || session == 0 {
		return
	}
	if r.heard != 0 {
		r.log.Info("relay: new session", "endpoint", r.src.Endpoint(), "session", fmt.Sprintf("%016x", session),
			"previous_session", fmt.Sprintf("%016x", r.heard))
	} else {
		r.log.Info("relay: session", "endpoint", r.src.Endpoint(), "session", fmt.Sprintf("%016x", session))
	}
	r.heard = session
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

// Run subscribes its source to every topic (or those of SetTopics) and
// forwards until ctx is done or the source fails, then closes the source
// (not the sinks: the caller owns them).
func (r *Relay) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { r.src.Close() })
	defer stop()
	defer r.src.Close()
	if err := r.subscribe(); err != nil {
		return err
	}
	r.log.Debug("relay: started", "endpoint", r.src.Endpoint(), "sinks", len(r.sinks), "topics", len(r.topics))
	var m schema.Message
	for {
		b, err := r.src.Next(time.Time{})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		r.lineEvents(b.Events)
		for _, raw := range b.Msgs {
			if raw.Frames != 2 {
				continue // not a tickcast message: nothing to relay it as
			}
			if !r.wanted(raw.Topic) {
				r.filtered.Add(1)
				continue
			}
			decoded := m.Decode(raw.Body) == nil
			if decoded {
				r.heardSession(m.Session)
			}
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
			if decoded && m.Type == schema.Batch {
				r.ticks.Add(uint64(m.Len()))
			}
		}
		for _, s := range r.sinks {
			if err := s.Flush(); err != nil {
				return err
			}
		}
	}
}
