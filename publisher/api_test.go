package publisher

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/zmtp"
)

// WaitSubscribers returns once a subscriber's subscription has arrived, and
// what is published from then on reaches it: no slow joiner.
func TestWaitSubscribersEndsTheSlowJoinerProblem(t *testing.T) {
	for range 20 {
		sink, err := zmtp.Listen("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p, err := New(WithSink(sink))
		if err != nil {
			t.Fatal(err)
		}
		sub, err := zmtp.Dial(sink.Endpoint())
		if err != nil {
			t.Fatal(err)
		}
		sub.Subscribe([]byte("AAPL"))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := p.WaitSubscribers(ctx, 1); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := p.Publish("AAPL", schema.Tick{Price: 1}); err != nil {
			t.Fatal(err)
		}
		got := false
		deadline := time.Now().Add(10 * time.Second)
		for !got && time.Now().Before(deadline) {
			b, err := sub.Next(deadline)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range b.Msgs {
				got = got || string(m.Topic) == "AAPL"
			}
		}
		if !got {
			t.Fatal("the first tick published after WaitSubscribers did not arrive")
		}
		sub.Close()
		p.Close()
	}
}

// WaitSubscribers gives up with the context, and returns ErrClosed if the
// publisher closes meanwhile.
func TestWaitSubscribersEndsWithItsContextOrThePublisher(t *testing.T) {
	sink, err := zmtp.Listen("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := p.WaitSubscribers(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitSubscribers with nobody there: %v, want DeadlineExceeded", err)
	}
	done := make(chan error)
	go func() { done <- p.WaitSubscribers(context.Background(), 1) }()
	p.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("WaitSubscribers when the publisher closed: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitSubscribers did not return when the publisher closed")
	}
}

// Sinks that cannot count (multicast) are not waited for; with no sink that
// can, WaitSubscribers says so.
func TestWaitSubscribersNeedsASinkThatCanCount(t *testing.T) {
	p, err := New(WithSink(&discardSink{}))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.WaitSubscribers(context.Background(), 1); !errors.Is(err, ErrCannotCount) {
		t.Fatalf("WaitSubscribers: %v, want ErrCannotCount", err)
	}
}

// failingSink fails every Send and Flush.
type failingSink struct{ discardSink }

var errBroken = errors.New("broken pipe, say")

func (f *failingSink) Send(Message) error { return errBroken }
func (f *failingSink) Flush() error       { return errBroken }
func (f *failingSink) Stats() SinkStats   { return SinkStats{Endpoint: "failing"} }

// syncBuffer is a log destination safe for the sender goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A failing sink is logged once, then counted; its last error is in Stats,
// per sink, and the other sinks carry on.
func TestASinksFirstErrorIsLoggedAndItsLastKept(t *testing.T) {
	var log syncBuffer
	good := &captureSink{}
	p, err := New(WithSink(&failingSink{}, good), WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := p.Publish("AAPL", schema.Tick{Price: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	st := p.Stats()
	if st.Sinks[0].Errors < 2 || !errors.Is(st.Sinks[0].LastError, errBroken) {
		t.Errorf("failing sink: %d errors, last %v", st.Sinks[0].Errors, st.Sinks[0].LastError)
	}
	if st.Sinks[1].Errors != 0 || st.Sinks[1].LastError != nil || len(good.messages()) == 0 {
		t.Errorf("good sink: %d errors, last %v, %d messages", st.Sinks[1].Errors, st.Sinks[1].LastError, len(good.messages()))
	}
	if st.SinkErrors != st.Sinks[0].Errors {
		t.Errorf("SinkErrors %d, the failing sink's %d", st.SinkErrors, st.Sinks[0].Errors)
	}
	if n := strings.Count(log.String(), "sink failed"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, log.String())
	}
}
