package subscriber

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tickcast/tickcast/schema"
)

// chanSource is an in-memory Source: the test pushes batches into it.
type chanSource struct {
	name   string
	in     chan *Batch
	closed chan struct{}
	once   sync.Once
	wake   chan struct{}
	mu     sync.Mutex
	subs   []string
}

func newChanSource(name string) *chanSource {
	return &chanSource{name: name, in: make(chan *Batch, 16), closed: make(chan struct{}), wake: make(chan struct{}, 1)}
}

func (c *chanSource) Endpoint() string { return c.name }

func (c *chanSource) Subscribe(p []byte) error {
	c.mu.Lock()
	c.subs = append(c.subs, string(p))
	c.mu.Unlock()
	return nil
}

func (c *chanSource) Unsubscribe(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := slices.Index(c.subs, string(p)); i >= 0 {
		c.subs = slices.Delete(c.subs, i, i+1)
	}
	return nil
}

func (c *chanSource) Wake() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *chanSource) Next(deadline time.Time) (*Batch, error) {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case b := <-c.in:
		return b, nil
	case <-timeout:
		return &Batch{}, nil
	case <-c.wake:
		return &Batch{}, nil
	case <-c.closed:
		return nil, errors.New("source closed")
	}
}

func (c *chanSource) Close() error { c.once.Do(func() { close(c.closed) }); return nil }

// push sends one message of ticks on topic from session.
func (c *chanSource) push(enc *schema.Encoder, session uint64, topic string, seqs ...uint64) {
	var ticks []schema.Tick
	for _, s := range seqs {
		ticks = append(ticks, schema.Tick{Seq: s})
	}
	body := append([]byte(nil), enc.Encode(schema.Header{Type: schema.Batch, Session: session}, ticks)...)
	c.in <- &Batch{Time: time.Now(), Msgs: []Raw{{Topic: []byte(topic), Body: body, Frames: 2, Size: len(body)}}}
}

func nextKind(t *testing.T, s *Subscriber, kinds ...EventKind) Event {
	t.Helper()
	for {
		ev, err := s.Next(context.Background())
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if slices.Contains(kinds, ev.Kind) {
			return ev
		}
	}
}

func TestSubscriberSubscribesItsSourcesToTopicsAndControl(t *testing.T) {
	a, b := newChanSource("a"), newChanSource("b")
	s, err := New(context.Background(), WithSource(a, b), WithTopics("AA", "MS"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := []string{"AA", "MS", schema.ControlTopic} // the control topic last: see New
	if !slices.Equal(a.subs, want) || !slices.Equal(b.subs, want) {
		t.Fatalf("subscriptions %q and %q, want %q", a.subs, b.subs, want)
	}
	if err := s.Subscribe("GO"); err != nil {
		t.Fatal(err)
	}
	enc := schema.NewEncoder(0)
	a.push(enc, 1, "GOOG", 1)
	if ev := nextKind(t, s, EventTicks); string(ev.Topic) != "GOOG" {
		t.Fatalf("ticks on %q", ev.Topic)
	}
}

func TestSubscriberMergesSourcesAndDeliversEachTickOnce(t *testing.T) {
	a, b := newChanSource("a"), newChanSource("b")
	s, err := New(context.Background(), WithSource(a, b), WithStaleAfter(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Both lines carry session 7; each tick must come out once.
	go func() {
		enc := schema.NewEncoder(0)
		for seq := uint64(1); seq <= 100; seq++ {
			a.push(enc, 7, "X", seq)
			b.push(enc, 7, "X", seq)
		}
	}()
	var got []uint64
	for len(got) < 100 {
		ev := nextKind(t, s, EventTicks, EventGap)
		if ev.Kind == EventGap {
			t.Fatalf("gap %+v", ev.Gap)
		}
		for _, tk := range ev.Ticks {
			got = append(got, tk.Seq)
		}
	}
	for i, seq := range got {
		if seq != uint64(i+1) {
			t.Fatalf("ticks out of order or repeated: %v", got)
		}
	}
	// The other copies are counted as duplicates, each on its line (which
	// line wins a tick is a race). Read until both lines are drained.
	for deadline := time.Now().Add(10 * time.Second); s.Stats().Total.Duplicates < 100; {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", s.Stats())
		}
		ev, err := s.Next(context.Background())
		if err != nil || ev.Kind == EventTicks || ev.Kind == EventGap {
			t.Fatalf("after all ticks: %v %v", ev.Kind, err)
		}
	}
	if st := s.Stats(); st.Total.Ticks != 100 || len(st.Lines) != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStaleIsReportedWhileNextWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newChanSource("a")
		start := time.Now()
		s, err := New(context.Background(), WithSource(src), WithStaleAfter(30*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if ev := nextKind(t, s, EventStale); ev.Line != "a" {
			t.Fatalf("stale %+v", ev)
		}
		if d := time.Since(start); d != 30*time.Millisecond {
			t.Fatalf("stale after %v of silence, want 30ms", d)
		}
	})
}

func TestCloseAndCancelEndNext(t *testing.T) {
	for _, how := range []string{"close", "cancel"} {
		t.Run(how, func(t *testing.T) {
			for _, n := range []int{1, 2} { // one source read directly, two through goroutines
				synctest.Test(t, func(t *testing.T) {
					var srcs []Source
					for range n {
						srcs = append(srcs, newChanSource("x"))
					}
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					s, err := New(ctx, WithSource(srcs...), WithStaleAfter(time.Hour))
					if err != nil {
						t.Fatal(err)
					}
					errc := make(chan error)
					go func() {
						_, err := s.Next(context.Background())
						errc <- err
					}()
					synctest.Wait() // Next is blocked
					if how == "close" {
						s.Close()
					} else {
						cancel()
					}
					// In the bubble, a Next still blocked would be a
					// deadlock, which synctest reports.
					err = <-errc
					if !errors.Is(err, ErrClosed) || (how == "cancel" && !errors.Is(err, context.Canceled)) {
						t.Fatalf("%d sources: Next = %v", n, err)
					}
					if _, err := s.Next(context.Background()); !errors.Is(err, ErrClosed) {
						t.Fatalf("Next after close = %v", err)
					}
					s.Close()
				})
			}
		})
	}
}

func TestNoSourceIsAnError(t *testing.T) {
	if _, err := New(context.Background()); err == nil {
		t.Fatal("New without a source succeeded")
	}
	if _, err := New(context.Background(), WithSource(newChanSource("a")), WithStaleAfter(-1)); err == nil {
		t.Fatal("a negative stale timeout was accepted")
	}
}

// busySource delivers a one-message batch at every Next, at once, until it
// is closed: the most a line can keep a subscriber's goroutines busy.
type busySource struct {
	batch  Batch
	closed chan struct{}
	once   sync.Once
}

func newBusySource() *busySource {
	body := schema.NewEncoder(256).Encode(schema.Header{Type: schema.Batch, Session: 1}, []schema.Tick{{Seq: 1}})
	return &busySource{closed: make(chan struct{}), batch: Batch{
		Msgs: []Raw{{Topic: []byte("A"), Body: append([]byte(nil), body...), Frames: 2, Size: len(body)}}}}
}

func (b *busySource) Endpoint() string         { return "busy" }
func (b *busySource) Subscribe([]byte) error   { return nil }
func (b *busySource) Unsubscribe([]byte) error { return nil }
func (b *busySource) Wake()                    {}
func (b *busySource) Close() error             { b.once.Do(func() { close(b.closed) }); return nil }
func (b *busySource) Next(time.Time) (*Batch, error) {
	select {
	case <-b.closed:
		return nil, errors.New("closed")
	default:
		b.batch.Time = time.Now()
		return &b.batch, nil
	}
}

// Close, or the end of the context, may land at any point of a Next that
// reads several lines: Next returns, whatever it was doing, and every
// goroutine of the subscriber has ended when Close returns.
func TestNextReturnsAfterCloseWhateverItWasDoing(t *testing.T) {
	for i := range 500 {
		ctx, cancel := context.WithCancel(context.Background())
		s, err := New(ctx, WithSource(newBusySource(), newBusySource()))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			for {
				if _, err := s.Next(context.Background()); err != nil {
					done <- err
					return
				}
			}
		}()
		time.Sleep(time.Duration(i%50) * time.Microsecond)
		if i%2 == 0 {
			s.Close()
		} else {
			cancel()
		}
		select {
		case err := <-done:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("iteration %d: Next = %v, want ErrClosed", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("iteration %d: Next still blocked 10s after Close", i)
		}
		cancel()
		s.Close()
	}
}

// The subscriber owns its sources from WithSource on: when New fails, it
// closes them, whatever the order of the options.
func TestNewClosesItsSourcesWhenItFails(t *testing.T) {
	a, b := newChanSource("a"), newChanSource("b")
	if _, err := New(context.Background(), WithSource(a), WithStaleAfter(-1), WithSource(b)); err == nil {
		t.Fatal("New accepted a negative stale timeout")
	}
	for _, c := range []*chanSource{a, b} {
		select {
		case <-c.closed:
		default:
			t.Errorf("source %s left open", c.name)
		}
	}
}

// A context that is already done closes the subscriber at once, without
// racing New.
func TestNewWithADoneContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 100 {
		s, err := New(ctx, WithSource(newChanSource("a"), newChanSource("b")))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Next(context.Background()); !errors.Is(err, context.Canceled) {
			t.Fatalf("Next = %v, want the context's error", err)
		}
		s.Close()
	}
}
