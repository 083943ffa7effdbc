// Package feed carries tickcast feeds over PGM: Sink is a publisher.Sink on
// a pgm/zmq Pub, Source a subscriber.Source on a pgm/zmq Sub. Package
// endpoint opens them for epgm:// and pgm:// endpoints.
package feed

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/tickcast/tickcast/pgm/zmq"
	"github.com/tickcast/tickcast/publisher"
)

// Sink sends a publisher's messages ([topic, body]) on a PGM endpoint.
// Send copies the message into the Pub's packer and never blocks: when the
// backlog in front of the rate limit is full, data messages are dropped and
// counted (SinkStats.Dropped), while control messages (heartbeats, session
// ends: what tells subscribers exactly what they lost) still have a reserve
// of their own.
type Sink struct {
	pub      *zmq.Pub
	endpoint string
	messages atomic.Uint64
	bytes    atomic.Uint64
}

var _ publisher.Sink = (*Sink)(nil)

// NewSink opens endpoint (epgm://iface;group:port or pgm://...) for
// publishing. It is closed by Close or when ctx is done.
func NewSink(ctx context.Context, endpoint string, cfg zmq.PubConfig) (*Sink, error) {
	pub, err := zmq.NewPub(ctx, endpoint, cfg)
	if err != nil {
		return nil, err
	}
	return &Sink{pub: pub, endpoint: endpoint}, nil
}

// Pub returns the underlying socket.
func (s *Sink) Pub() *zmq.Pub { return s.pub }

// Send queues m, copying it; a message the backlog cannot take is dropped
// and counted, not reported as an error.
func (s *Sink) Send(m publisher.Message) error {
	s.messages.Add(1)
	s.bytes.Add(uint64(len(m.Topic) + len(m.Body)))
	var err error
	if m.Control {
		err = s.pub.SendReserved(m.Topic, m.Body)
	} else {
		err = s.pub.Send(m.Topic, m.Body)
	}
	if errors.Is(err, zmq.ErrBacklogFull) {
		return nil // counted by the Pub, reported in Stats
	}
	return err
}

// Flush sends the partly filled APDU once the sender is free.
func (s *Sink) Flush() error {
	s.pub.Flush()
	return nil
}

// Stats returns the sink's counters. PGM does not know its receivers, so
// Peers is -1.
func (s *Sink) Stats() publisher.SinkStats {
	st := s.pub.Stats()
	return publisher.SinkStats{Endpoint: s.endpoint, Peers: -1, Messages: s.messages.Load(), Bytes: s.bytes.Load(),
		Dropped: st.Dropped}
}

// Close sends what is queued (up to the linger time) and ends the session.
func (s *Sink) Close() error { return s.pub.Close() }
