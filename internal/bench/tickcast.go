package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/subscriber"
	"github.com/tickcast/tickcast/zmtp"
)

// floodChunk is how many ticks a flooding tickcast publisher queues per
// PublishBatch: one lock per chunk. Messages are cut by the max batch.
const floodChunk = 64

// tickcastPub publishes through tickcast's publisher.
type tickcastPub struct {
	pub      *publisher.Publisher
	sink     publisher.Sink
	peers    func() []zmtp.PeerStats // nil where the transport has no per-peer queues
	topics   []*publisher.Topic
	chunk    []schema.Tick
	chunks   int
	maxQueue int // flood: hold back while a subscriber has this many messages queued
	deadline time.Time
}

func topicName(i, n int) string {
	if n == 1 {
		return benchTopic
	}
	return fmt.Sprintf("%s%03d", benchTopic, i)
}

func newTickcastPub(spec *childSpec, logger *slog.Logger) (*tickcastPub, error) {
	// A long linger: Close must deliver the tail of the run, not drop it.
	eo := []endpoint.Option{endpoint.WithLogger(logger), endpoint.WithLinger(10 * time.Second), pgmRate(spec)}
	hwm := zmtp.DefaultSendHWM
	if spec.HWM > 0 {
		hwm = spec.HWM
		eo = append(eo, endpoint.WithSendHWM(hwm))
	}
	sink, err := endpoint.Sink(spec.Endpoint, eo...)
	if err != nil {
		return nil, fmt.Errorf("bench child: %w", err)
	}
	// Flow control of a flood keeps the ticks in flight, in the
	// publisher's queue and in a subscriber's, under half of what the
	// transport would drop at (in messages and in bytes): the publisher's
	// queue limit pushes back on Publish, and the flood holds off while a
	// subscriber's queue is deep.
	msgBytes := max(payloadSize(max(spec.Batch, 1)), 1)
	maxQueue := max(min(hwm/4, zmtp.DefaultSendBuffer/4/msgBytes), 1)
	opts := []publisher.Option{publisher.WithSink(sink), publisher.WithLogger(logger),
		publisher.WithMaxBatch(max(spec.Batch, 1)), publisher.WithFlushDelay(spec.FlushDelay)}
	if spec.Rate == 0 {
		opts = append(opts, publisher.WithQueueLimit(max(maxQueue*max(spec.Batch, 1), 2*floodChunk)))
	}
	pub, err := publisher.New(opts...)
	if err != nil {
		sink.Close()
		return nil, fmt.Errorf("bench child: %w", err)
	}
	t := &tickcastPub{pub: pub, sink: sink, chunk: make([]schema.Tick, floodChunk),
		deadline: time.Unix(0, spec.Deadline)}
	if p, ok := sink.(interface{ Peers() []zmtp.PeerStats }); ok {
		t.peers = p.Peers
	}
	t.maxQueue = maxQueue
	for i := range max(spec.Topics, 1) {
		t.topics = append(t.topics, pub.Topic(topicName(i, max(spec.Topics, 1))))
	}
	return t, nil
}

func (t *tickcastPub) endpoint() string { return t.sink.Stats().Endpoint }

func (t *tickcastPub) subscribed() int {
	if t.peers == nil {
		return -1
	}
	n := 0
	for _, p := range t.peers() {
		if p.Subscriptions >= 2 { // the control topic and the bench topic
			n++
		}
	}
	return n
}

func (t *tickcastPub) publish(topic int, intended, index int64) error {
	tick := schema.Tick{Kind: schema.KindTrade, Price: 1_892_300, PriceExp: -4,
		Size: index, EventTime: intended, Instrument: uint32(topic)}
	for {
		err := t.topics[topic].Publish(tick)
		if !errors.Is(err, publisher.ErrQueueFull) || time.Now().After(t.deadline) {
			return err
		}
		runtime.Gosched() // the sender is behind: let it run
	}
}

func (t *tickcastPub) flood(now, index int64) (int64, error) {
	for j := range t.chunk {
		t.chunk[j] = schema.Tick{Kind: schema.KindTrade, Price: 1_892_300, PriceExp: -4,
			Size: index + int64(j), EventTime: now}
	}
	tp := t.topics[t.chunks%len(t.topics)]
	t.chunks++
	for rest := t.chunk; ; {
		n, err := tp.PublishBatch(rest)
		rest = rest[n:]
		if !errors.Is(err, publisher.ErrQueueFull) || time.Now().After(t.deadline) {
			if err != nil {
				return 0, err
			}
			break
		}
		runtime.Gosched()
	}
	if t.peers != nil && t.chunks%4 == 0 {
		for t.deepest() > t.maxQueue && time.Now().Before(t.deadline) {
			runtime.Gosched()
		}
	}
	return int64(len(t.chunk)), nil
}

// deepest is the longest subscriber queue, in messages.
func (t *tickcastPub) deepest() int {
	q := 0
	for _, p := range t.peers() {
		q = max(q, p.Queued)
	}
	return q
}

func (t *tickcastPub) close() error {
	if err := t.pub.Close(); err != nil && !errors.Is(err, publisher.ErrClosed) {
		return fmt.Errorf("bench child: closing the publisher: %w", err)
	}
	return nil
}

func (t *tickcastPub) stats(r *childResult) {
	s := t.pub.Stats()
	r.Messages, r.Bytes, r.Rejected = s.Messages, s.Bytes, s.Rejected
	for _, k := range s.Sinks {
		r.Dropped += k.Dropped
	}
}

// pgmRate is the run's epgm/pgm rate limit, as an endpoint option (the
// subscriber sizes its receive window with it too).
func pgmRate(spec *childSpec) endpoint.Option {
	kbps := spec.PGMRate
	if kbps <= 0 {
		kbps = endpoint.DefaultPGMRate
	}
	return endpoint.WithRate(kbps)
}

// runTickcastSub subscribes with tickcast's subscriber until the session
// ends (the publisher closed) or ctx is done.
func runTickcastSub(ctx context.Context, spec *childSpec, rec *tickRecorder, ready func(), logger *slog.Logger) error {
	src, err := endpoint.Source(spec.Endpoint, endpoint.WithLogger(logger), pgmRate(spec),
		endpoint.WithNAKTimers(spec.NAK[0], spec.NAK[1], spec.NAK[2]))
	if err != nil {
		return fmt.Errorf("bench child: %w", err)
	}
	sub, err := subscriber.New(ctx, subscriber.WithSource(src), subscriber.WithTopics(benchTopic),
		subscriber.WithLogger(logger))
	if err != nil {
		return fmt.Errorf("bench child: %w", err)
	}
	defer sub.Close()
	isReady := false
	var base subscriber.LineStats // counters when the first measured tick came
	var runErr error
loop:
	for {
		ev, err := sub.Next(context.Background())
		if err != nil {
			if !errors.Is(err, subscriber.ErrClosed) {
				runErr = err
			} else if ctx.Err() != nil {
				runErr = context.Cause(ctx)
			}
			break
		}
		switch ev.Kind {
		case subscriber.EventLineUp:
			if !isReady {
				isReady = true
				ready()
			}
		case subscriber.EventTicks:
			now := wallNow()
			before := rec.received
			for i := range ev.Ticks {
				tk := &ev.Ticks[i]
				rec.tick(now, tk.EventTime, tk.Size, 1)
			}
			if before == 0 && rec.received > 0 {
				base = sub.Stats().Total
			}
		case subscriber.EventSessionEnd:
			rec.ended = true
			break loop
		}
	}
	st := sub.Stats().Total
	rec.messages, rec.bytes = st.Messages-base.Messages, st.Bytes-base.Bytes
	rec.gaps, rec.missing, rec.duplicates, rec.decodeErrors = st.Gaps, st.Missing, st.Duplicates, st.DecodeErrors
	return runErr
}
