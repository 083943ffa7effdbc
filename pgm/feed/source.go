package feed

import (
	"context"
	"fmt"
	"time"

	"github.com/tickcast/tickcast/pgm/zmq"
	"github.com/tickcast/tickcast/subscriber"
)

// Source receives a feed from a PGM endpoint: every publisher (PGM source)
// sending to its group. Messages are filtered by prefix locally, as
// libzmq's SUB does. Line events:
//
//   - LineUp when a source is heard and none was before (Detail: its TSI and
//     address);
//   - LineDown when the last source expires (no SPM for the peer expiry);
//   - LineLoss for every unrecoverable loss, with Lost the number of PGM
//     packets and Detail the TSI and the sequence numbers, and how many
//     messages the loss cut (dropped whole, never merged with later data).
type Source struct {
	sub      *zmq.Sub
	endpoint string
	peers    int
	batch    subscriber.Batch
}

var _ subscriber.Source = (*Source)(nil)

// NewSource opens endpoint (epgm://iface;group:port or pgm://...) for
// receiving. It is closed by Close or when ctx is done.
func NewSource(ctx context.Context, endpoint string, cfg zmq.SubConfig) (*Source, error) {
	sub, err := zmq.NewSub(ctx, endpoint, cfg)
	if err != nil {
		return nil, err
	}
	return &Source{sub: sub, endpoint: endpoint}, nil
}

// Sub returns the underlying socket.
func (s *Source) Sub() *zmq.Sub { return s.sub }

// Endpoint names the line.
func (s *Source) Endpoint() string { return s.endpoint }

// Subscribe keeps messages whose topic starts with prefix.
func (s *Source) Subscribe(prefix []byte) error {
	s.sub.Subscribe(prefix)
	return nil
}

// Next returns the next batch, or an empty one at deadline. The batch and
// its bytes stay valid until the next call.
func (s *Source) Next(deadline time.Time) (*subscriber.Batch, error) {
	zb, err := s.sub.Next(deadline)
	if err != nil {
		return nil, err
	}
	b := &s.batch
	b.Reset()
	b.Time = zb.Time
	for _, m := range zb.Msgs {
		r := subscriber.Raw{Topic: m.Frames[0], Frames: len(m.Frames)}
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
				b.Events = append(b.Events, subscriber.LineEvent{Kind: subscriber.LineUp,
					Detail: fmt.Sprintf("pgm source %s at %s", e.TSI, e.Source)})
			}
		case zmq.PeerDown:
			s.peers--
			if s.peers == 0 {
				b.Events = append(b.Events, subscriber.LineEvent{Kind: subscriber.LineDown,
					Detail: fmt.Sprintf("pgm source %s expired", e.TSI)})
			}
		case zmq.Loss:
			b.Events = append(b.Events, subscriber.LineEvent{Kind: subscriber.LineLoss, Lost: uint64(e.Count),
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

// Close stops the line; a blocked Next returns an error.
func (s *Source) Close() error { return s.sub.Close() }
