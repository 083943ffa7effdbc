// Package pgmline carries tickcast lines over PGM multicast: a Sender is a
// port.Sink that sends through a PGM source (a pgm/zmq Pub), a Receiver is a
// port.Source that reads through a PGM receiver (a pgm/zmq Sub). Package
// endpoint opens them for epgm:// and pgm:// endpoints; use this package
// directly for the PGM settings endpoint does not offer, or for the
// sockets' own counters.
package pgmline

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/tickcast/tickcast/pgm/zmq"
	"github.com/tickcast/tickcast/port"
)

// Sender is a port.Sink that sends a publisher's messages ([topic, body]) on a PGM endpoint.
// Send copies the message into the Pub's packer and never blocks: when the
// backlog in front of the rate limit is full, data messages are dropped and
// counted (SinkStats.Dropped), while control messages (heartbeats, session
// ends: what tells subscribers exactly what they lost) still have a reserve
// of their own.
type Sender struct {
	pub      *zmq.Pub
	endpoint string
	messages atomic.Uint64
	bytes    atomic.Uint64
}

var _ port.Sink = (*Sender)(nil)

// NewSender opens endpoint (epgm://iface;group:port or pgm://...) for
// publishing. It is closed by Close or when ctx is done.
func NewSender(ctx context.Context, endpoint string, cfg zmq.PubConfig) (*Sender, error) {
	pub, err := zmq.NewPub(ctx, endpoint, cfg)
	if err != nil {
		return nil, err
	}
	return &Sender{pub: pub, endpoint: endpoint}, nil
}

// Pub returns the underlying socket.
func (s *Sender) Pub() *zmq.Pub { return s.pub }

// Send queues m, copying it; a message the backlog cannot take is dropped
// and counted, not reported as an error.
func (s *Sender) Send(m port.Message) error {
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
func (s *Sender) Flush() error {
	s.pub.Flush()
	return nil
}

// Stats returns the sink's counters. PGM does not know its receivers, so
// Peers is -1.
func (s *Sender) Stats() port.SinkStats {
	st := s.pub.Stats()
	return port.SinkStats{Endpoint: s.endpoint, Peers: -1, Subscribed: -1, Messages: s.messages.Load(), Bytes: s.bytes.Load(),
		Dropped: st.Dropped}
}

// Close sends what is queued (up to the linger time) and ends the session.
func (s *Sender) Close() error { return s.pub.Close() }
