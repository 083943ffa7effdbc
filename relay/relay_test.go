package relay

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/subscriber"
)

// listSource delivers one batch of messages, then waits to be closed.
type listSource struct {
	batch  subscriber.Batch
	served bool
	closed chan struct{}
	once   sync.Once
}

func (l *listSource) Endpoint() string         { return "list" }
func (l *listSource) Subscribe(_ []byte) error { return nil }
func (l *listSource) Unsubscribe([]byte) error { return nil }
func (l *listSource) Wake()                    {}
func (l *listSource) Close() error             { l.once.Do(func() { close(l.closed) }); return nil }
func (l *listSource) Next(time.Time) (*subscriber.Batch, error) {
	if !l.served {
		l.served = true
		return &l.batch, nil
	}
	<-l.closed
	return nil, errors.New("closed")
}

type memSink struct {
	mu   sync.Mutex
	msgs []publisher.Message
}

func (m *memSink) Send(msg publisher.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	msg.Topic, msg.Body = append([]byte(nil), msg.Topic...), append([]byte(nil), msg.Body...)
	m.msgs = append(m.msgs, msg)
	return nil
}
func (m *memSink) Flush() error                  { return nil }
func (m *memSink) Stats() publisher.SinkStats    { return publisher.SinkStats{} }
func (m *memSink) Close() error                  { return nil }
func (m *memSink) messages() []publisher.Message { m.mu.Lock(); defer m.mu.Unlock(); return m.msgs }

func TestRelayForwardsAndDropsOnlyWhatItMay(t *testing.T) {
	enc := schema.NewEncoder(0)
	raw := func(topic string, h schema.Header, n int) subscriber.Raw {
		body := append([]byte(nil), enc.Encode(h, make([]schema.Tick, n))...)
		return subscriber.Raw{Topic: []byte(topic), Body: body, Frames: 2}
	}
	src := &listSource{closed: make(chan struct{}), batch: subscriber.Batch{Msgs: []subscriber.Raw{
		raw(schema.ControlTopic, schema.Header{Type: schema.Heartbeat, Session: 1}, 0),
		raw("A", schema.Header{Type: schema.Batch, Session: 1}, 3), // A's first: kept
		raw("A", schema.Header{Type: schema.Batch, Session: 1}, 2), // dropped
		raw("A", schema.Header{Type: schema.TopicHeartbeat, Session: 1}, 0),
		raw("A", schema.Header{Type: schema.Batch, Session: 2}, 1), // A's first in a new session: kept
		{Topic: []byte("B"), Body: []byte("foreign"), Frames: 2},   // forwarded as data
		{Topic: []byte("B"), Frames: 1},                            // not a tickcast message
	}}}
	sink := &memSink{}
	r := New(src, func([]byte, *schema.Message) bool { return true }, sink)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); len(sink.messages()) < 5; {
		if time.Now().After(deadline) {
			t.Fatalf("forwarded %d messages", len(sink.messages()))
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	msgs := sink.messages()
	wantControl := []bool{true, false, true, false, false}
	if len(msgs) != len(wantControl) {
		t.Fatalf("%d messages forwarded, want %d", len(msgs), len(wantControl))
	}
	for i, m := range msgs {
		if m.Control != wantControl[i] {
			t.Errorf("message %d (%q): control %v, want %v", i, m.Topic, m.Control, wantControl[i])
		}
	}
	if s := r.Stats(); s.Dropped != 1 || s.DroppedTicks != 2 || s.Forwarded != 5 {
		t.Fatalf("stats %+v", s)
	}
}

// subSource is a listSource that records its subscriptions.
type subSource struct {
	listSource
	mu   sync.Mutex
	subs []string
}

func (s *subSource) Subscribe(p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs = append(s.subs, string(p))
	return nil
}

func (s *subSource) subscriptions() []string { s.mu.Lock(); defer s.mu.Unlock(); return s.subs }

func TestRelayForwardsItsTopicsAndTheControlTopic(t *testing.T) {
	enc := schema.NewEncoder(0)
	raw := func(topic string, h schema.Header, n int) subscriber.Raw {
		body := append([]byte(nil), enc.Encode(h, make([]schema.Tick, n))...)
		return subscriber.Raw{Topic: []byte(topic), Body: body, Frames: 2}
	}
	msgs := []subscriber.Raw{
		raw(schema.ControlTopic, schema.Header{Type: schema.Heartbeat, Session: 1}, 0),
		raw("AAPL", schema.Header{Type: schema.Batch, Session: 1}, 3),
		raw("MSFT", schema.Header{Type: schema.Batch, Session: 1}, 2), // not asked for: a PGM source brings it anyway
		raw("MS", schema.Header{Type: schema.Batch, Session: 1}, 4),
		raw("MSFT", schema.Header{Type: schema.TopicHeartbeat, Session: 1}, 0),
		raw("AAPL", schema.Header{Type: schema.TopicHeartbeat, Session: 1}, 0),
		raw(schema.ControlTopic, schema.Header{Type: schema.EndOfSession, Session: 1}, 0),
	}
	for _, tt := range []struct {
		topics    []string
		subs      []string
		forwarded []string
		ticks     uint64
	}{
		{[]string{"AAPL", "MS"}, []string{"AAPL", "MS", schema.ControlTopic}, []string{schema.ControlTopic, "AAPL", "MSFT", "MS", "MSFT", "AAPL", schema.ControlTopic}, 9},
		{[]string{"AAPL"}, []string{"AAPL", schema.ControlTopic}, []string{schema.ControlTopic, "AAPL", "AAPL", schema.ControlTopic}, 3},
		{[]string{"AAPL", ""}, []string{""}, []string{schema.ControlTopic, "AAPL", "MSFT", "MS", "MSFT", "AAPL", schema.ControlTopic}, 9},
		{nil, []string{""}, []string{schema.ControlTopic, "AAPL", "MSFT", "MS", "MSFT", "AAPL", schema.ControlTopic}, 9},
	} {
		src := &subSource{listSource: listSource{closed: make(chan struct{}), batch: subscriber.Batch{Msgs: msgs}}}
		sink := &memSink{}
		r := New(src, nil, sink)
		r.SetTopics(tt.topics...)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- r.Run(ctx) }()
		for deadline := time.Now().Add(10 * time.Second); len(sink.messages()) < len(tt.forwarded); {
			if time.Now().After(deadline) {
				t.Fatalf("%q: forwarded %d messages", tt.topics, len(sink.messages()))
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(10 * time.Millisecond) // nothing more comes
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
		var got []string
		for _, m := range sink.messages() {
			got = append(got, string(m.Topic))
		}
		if strings.Join(got, "|") != strings.Join(tt.forwarded, "|") {
			t.Errorf("%q: forwarded %q, want %q", tt.topics, got, tt.forwarded)
		}
		if subs := src.subscriptions(); strings.Join(subs, "|") != strings.Join(tt.subs, "|") {
			t.Errorf("%q: subscribed %q, want %q", tt.topics, subs, tt.subs)
		}
		want := Stats{Forwarded: uint64(len(tt.forwarded)), Ticks: tt.ticks, Filtered: uint64(len(msgs) - len(tt.forwarded))}
		if s := r.Stats(); s != want {
			t.Errorf("%q: stats %+v, want %+v", tt.topics, s, want)
		}
	}
}
