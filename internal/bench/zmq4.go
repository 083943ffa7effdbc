package bench

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-zeromq/zmq4"
)

// zmq4Pub publishes through go-zeromq/zmq4's PUB socket, one message per
// tick (per Batch ticks in a flood), each a fresh buffer: zmq4 keeps the
// caller's buffers after Send returns. This is the naive way to use it,
// on purpose: the baseline.
type zmq4Pub struct {
	sock    zmq4.Socket
	ep      string
	size    int
	batch   int
	topic   []byte
	release <-chan struct{}
	msgs    uint64
	bytes   uint64
}

func newZmq4Pub(ctx context.Context, spec *childSpec, release <-chan struct{}) (*zmq4Pub, error) {
	sock := zmq4.NewPub(ctx)
	if err := sock.Listen(spec.Endpoint); err != nil {
		sock.Close()
		return nil, fmt.Errorf("bench child: zmq4 listen %s: %w", spec.Endpoint, err)
	}
	ep := spec.Endpoint
	if strings.HasPrefix(ep, "tcp://") {
		ep = "tcp://" + sock.Addr().String()
	}
	return &zmq4Pub{sock: sock, ep: ep, size: max(spec.PayloadSize, rawHeaderSize), batch: max(spec.Batch, 1),
		topic: []byte(benchTopic), release: release}, nil
}

func (z *zmq4Pub) endpoint() string { return z.ep }
func (z *zmq4Pub) subscribed() int  { return -1 }

func (z *zmq4Pub) send(intended, index int64, ticks uint32) error {
	b := make([]byte, z.size)
	putRaw(b, intended, index, ticks)
	z.msgs++
	z.bytes += uint64(len(z.topic) + len(b))
	if err := z.sock.Send(zmq4.NewMsgFrom(z.topic, b)); err != nil {
		return fmt.Errorf("bench child: zmq4 send: %w", err)
	}
	return nil
}

func (z *zmq4Pub) publish(_ int, intended, index int64) error { return z.send(intended, index, 1) }

// flood sends one message standing for Batch ticks. zmq4's PUB queue is
// unbounded and opaque: there is nothing to flow-control on, so a flood
// runs ahead of the subscriber and the backlog drains after the end.
func (z *zmq4Pub) flood(now, index int64) (int64, error) {
	return int64(z.batch), z.send(now, index, uint32(z.batch))
}

// close sends the end marker, then waits for the parent's word that every
// subscriber is done before closing: zmq4's Close drops what it still has
// queued.
func (z *zmq4Pub) close() error {
	err := z.send(wallNow(), endIndex, 0)
	<-z.release
	z.sock.Close()
	return err
}

func (z *zmq4Pub) stats(r *childResult) { r.Messages, r.Bytes = z.msgs, z.bytes }

// runZmq4Sub subscribes with a zmq4 SUB socket until the end marker or ctx
// is done.
func runZmq4Sub(ctx context.Context, spec *childSpec, rec *tickRecorder, ready func(), _ *slog.Logger) error {
	sock := zmq4.NewSub(ctx, zmq4.WithDialerRetry(50*time.Millisecond), zmq4.WithDialerMaxRetries(100))
	if err := sock.Dial(spec.Endpoint); err != nil {
		sock.Close()
		return fmt.Errorf("bench child: zmq4 dial %s: %w", spec.Endpoint, err)
	}
	if err := sock.SetOption(zmq4.OptionSubscribe, benchTopic); err != nil {
		sock.Close()
		return fmt.Errorf("bench child: zmq4 subscribe: %w", err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			sock.Close() // makes Recv return
		case <-done:
			sock.Close()
		}
	}()
	ready()
	for {
		msg, err := sock.Recv()
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return fmt.Errorf("bench child: zmq4 recv: %w", err)
		}
		now := wallNow()
		if len(msg.Frames) != 2 || !strings.HasPrefix(string(msg.Frames[0]), benchTopic) {
			continue // zmq4's SUB does not filter; others' messages are not ours
		}
		intended, index, n, ok := parseRaw(msg.Frames[1])
		if !ok {
			rec.decodeErrors++
			continue
		}
		if index == endIndex {
			rec.ended = true
			return nil
		}
		rec.tick(now, intended, index, int64(n))
		if index >= 0 {
			rec.messages++
			rec.bytes += uint64(len(msg.Frames[0]) + len(msg.Frames[1]))
		}
	}
}
