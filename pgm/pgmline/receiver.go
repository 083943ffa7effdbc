package pgmline

import (
	"context"
	"fmt"
	"time"

	"github.com/tickcast/tickcast/pgm/zmq"
	"github.com/tickcast/tickcast/port"
)

// Receiver is a port.Source that receives a line from a PGM endpoint: every publisher (PGM source)
// sending to its group. Messages are filtered by prefix locally, as
// libzmq's SUB does. Line events:
//
//   - LineUp when a source is heard and none was before (Detail: its TSI and
//     address);
//   - LineDown when the last source expires (no SPM for the peer expiry);
//   - LineLoss for every unrecoverable loss, with Lost the number of PGM
//     packets and Detail the TSI and the sequence numbers, and how many
//     messages the loss cut (dropped whole, never merged with later data).
type Receiver struct {
	sub      *zmq.Sub
	endpoint string
	peers    int
	batch    port.Batch
}

var _ port.Source = (*Receiver)(nil)

// NewReceiver opens endpoint (epgm://iface;group:port or pgm://...) for
// receiving. It is closed by Close or when ctx is done.
func NewReceiver(ctx context.Context, endpoint string, cfg zmq.SubConfig) (*Receiver, error) {
	sub, err := zmq.NewSub(ctx, endpoint, cfg)
	if err != nil {
		return nil, err
	}
	return &Receiver{sub: sub, endpoint: endpoint}, nil
}

// Sub returns the underlying socket.
func (s *Receiver) Sub() *zmq.Sub { return s.sub }

// Endpoint names the line.
func (s *Receiver) Endpoint() string { return s.endpoint }

// Subscribe keeps messages whose topic starts with prefix.
func (s *Receiver) Subscribe(prefix []byte) error {
	s.sub.Subscribe(prefix)
	return nil
}

// Next returns the next batch, or an empty one at deadline. The batch and
// its bytes stay valid until the next call.
func (s *Receiver) Next(deadline time.Time) (*port.Batch, error) {
	zb, err := s.sub.Next(deadline)
	if err != nil {
		return nil, err
	}
	b := &s.batch
	b.Reset()
	b.Time = zb.Time
	for _, m := range zb.Msgs {
		r := port.Raw{Topic: m.Frames[0], Frames: len(m.Frames)}
		if len(m.Frames) > 1 {
			r.Body = m.Frames[1]
		}
		for _, f := range m.Frames {
			r.Size += len(f)
		}
		b.Msgs = append(b.Msgs, r)
	}
	for _, e := range zb.Events {
		switch e.Kind {
		case zmq.PeerUp:
			s.peers++
			if s.peers == 1 {
				b.Events = append(b.Events, port.LineEvent{Kind: port.LineUp,
					Detail: fmt.Sprintf("pgm source %s at %s", e.TSI, e.Source)})
			}
		case zmq.PeerDown:
			s.peers--
			if s.peers == 0 {
				b.Events = append(b.Events, port.LineEvent{Kind: port.LineDown,
					Detail: fmt.Sprintf("pgm source %s expired", e.TSI)})
			}
		case zmq.Loss:
			b.Events = append(b.Events, port.LineEvent{Kind: port.LineLoss, Lost: uint64(e.Count),
				Detail: LossDetail(e)})
		}
	}
	return b, nil
}

// LossDetail describes a loss event: "tsi T lost sqn A-B (N packets, M
// messages cut)".
func LossDetail(e zmq.Event) string {
	last := e.SQN + e.Count - 1
	return fmt.Sprintf("tsi %s lost sqn %d-%d (%d packets, %d messages cut)", e.TSI, e.SQN, last, e.Count, e.Discarded)
}

// Unsubscribe undoes one Subscribe of prefix.
func (s *Receiver) Unsubscribe(prefix []byte) error {
	s.sub.Unsubscribe(prefix)
	return nil
}

// Wake makes a Next in progress return at once.
func (s *Receiver) Wake() { s.sub.Wake() }

// Close stops the line; a blocked Next returns an error.
func (s *Receiver) Close() error { return s.sub.Close() }
