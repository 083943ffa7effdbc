package inproc_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/tickcast/tickcast/inproc"
	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/zmtp"
)

// Every test has a namespace of its own, so that they run in parallel with
// the same names; the default namespace has tests of its own.

func listen(t *testing.T, ns *inproc.Namespace, name string, opts ...inproc.Option) *inproc.Pub {
	t.Helper()
	p, err := inproc.Listen("inproc://"+name, append([]inproc.Option{inproc.WithNamespace(ns)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, ns *inproc.Namespace, name string, prefixes ...string) *inproc.Sub {
	t.Helper()
	s, err := inproc.Dial("inproc://"+name, inproc.WithNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	subscribe(t, s, prefixes...)
	return s
}

func subscribe(t *testing.T, s *inproc.Sub, prefixes ...string) {
	t.Helper()
	for _, p := range prefixes {
		if err := s.Subscribe([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
}

func send(t *testing.T, p *inproc.Pub, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		topic, body, _ := strings.Cut(m, "=")
		if err := p.Send(port.Message{Topic: []byte(topic), Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
}

func sendControl(t *testing.T, p *inproc.Pub, topic, body string) {
	t.Helper()
	if err := p.Send(port.Message{Topic: []byte(topic), Body: []byte(body), Control: true}); err != nil {
		t.Fatal(err)
	}
	p.Flush()
}

// drain returns what s has now, in order: "up" and "down" for line events,
// "topic=body" for messages, polling Next (with a deadline passed) until it
// has nothing more.
func drain(t *testing.T, s *inproc.Sub) []string {
	t.Helper()
	var out []string
	for {
		b, err := s.Next(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Msgs) == 0 && len(b.Events) == 0 {
			return out
		}
		out = append(out, render(t, b)...)
	}
}

func render(t *testing.T, b *port.Batch) []string {
	t.Helper()
	var out []string
	for _, e := range b.Events {
		switch e.Kind {
		case port.LineUp:
			out = append(out, "up")
		case port.LineDown:
			out = append(out, "down")
		default:
			out = append(out, fmt.Sprint("event ", e.Kind))
		}
	}
	for _, m := range b.Msgs {
		if m.Frames != 2 || m.Size != len(m.Topic)+len(m.Body) {
			t.Fatalf("message %q: %d frames, size %d", m.Topic, m.Frames, m.Size)
		}
		out = append(out, string(m.Topic)+"="+string(m.Body))
	}
	return out
}

func expect(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// nextWithin calls Next with a deadline of 10 s: for what must come.
func nextWithin(t *testing.T, s *inproc.Sub) *port.Batch {
	t.Helper()
	b, err := s.Next(time.Now().Add(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Msgs) == 0 && len(b.Events) == 0 {
		t.Fatal("nothing within 10s")
	}
	return b
}

func TestASubscriberGetsTheTopicsItSubscribedTo(t *testing.T) {
	t.Parallel()
	ns := inproc.NewNamespace()
	p := listen(t, ns, "feed")
	apple := dial(t, ns, "feed", "AAPL")
	all := dial(t, ns, "feed", "")
	none := dial(t, ns, "feed")
	send(t, p, "AAPL=1", "MSFT=2", "AAPL.OQ=3", "AAP=4")
	expect(t, "subscribed to AAPL", drain(t, apple), "up", "AAPL=1", "AAPL.OQ=3")
	expect(t, "subscribed to everything", drain(t, all), "up", "AAPL=1", "MSFT=2", "AAPL.OQ=3", "AAP=4")
	expect(t, "subscribed to nothing", drain(t, none), "up")
	if st := p.Stats(); st.Endpoint != "inproc://feed" || st.Peers != 3 || st.Subscribed != 2 ||
		st.Messages != 4 || st.Bytes != 5+5+8+4 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSubscriptionsAreCountedAsInZeroMQ(t *testing.T) {
	t.Parallel()
	ns := inproc.NewNamespace()
	p := listen(t, ns, "feed")
	s := dial(t, ns, "feed", "A", "A")
	drain(t, s)
	s.Unsubscribe([]byte("A"))
	send(t, p, "AB=1")
	expect(t, "subscribed twice, unsubscribed once", drain(t, s), "AB=1")
	s.Unsubscribe([]byte("A"))
	send(t, p, "AB=2")
	expect(t, "unsubscribed twice", drain(t, s))
	if err := s.Unsubscribe([]byte("never")); err != nil {
		t.Fatalf("unsubscribing what was never subscribed: %v", err)
	}
	if st := p.Stats(); st.Subscribed != 0 || st.Peers != 1 {
		t.Fatalf("a subscriber without subscriptions: %+v, want 1 peer, 0 subscribed", st)
	}
	s.SubscribeAll([][]byte{[]byte("X"), []byte("Y")})
	send(t, p, "X=3", "Y=4", "Z=5")
	expect(t, "SubscribeAll", drain(t, s), "X=3", "Y=4")
}

func TestSubscriptionsAreBounded(t *testing.T) {
	t.Parallel()
	ns := inproc.NewNamespace()
	s, err := inproc.Dial("inproc://feed", inproc.WithNamespace(ns), inproc.WithMaxSubscriptions(2))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	subscribe(t, s, "A", "B")
	if err := s.Subscribe([]byte("C")); !errors.Is(err, inproc.ErrTooManySubscriptions) {
		t.Fatalf("a third subscription, with a bound of 2: %v, want ErrTooManySubscriptions", err)
	}
	s.Unsubscribe([]byte("A"))
	subscribe(t, s, "C")
	if err := s.Subscribe(make([]byte, 2<<20)); !errors.Is(err, inproc.ErrTooManySubscriptions) {
		t.Fatalf("a 2 MiB prefix: %v, want ErrTooManySubscriptions", err)
	}
}

// Send must not keep the caller's bytes: the publisher reuses them.
func TestSendCopiesTheMessage(t *testing.T) {
	t.Parallel()
	ns := inproc.NewNamespace()
	p := listen(t, ns, "feed")
	s := dial(t, ns, "feed", "")
	drain(t, s)
	topic, body := []byte("AAPL"), []byte("body")
	p.Send(port.Message{Topic: topic, Body: body})
	p.Flush()
	copy(topic, "XXXX")
	copy(body, "YYYY")
	expect(t, "after the caller reused its buffers", drain(t, s), "AAPL=body")
}

// One copy per message, whatever the number of subscribers: they share it.
func TestSubscribersShareOneCopy(t *testing.T) {
	t.Parallel()
	ns := inproc.NewNamespace()
	p := listen(t, ns, "feed")
	a, b := dial(t, ns, "feed", ""), dial(t, ns, "feed", "AAPL")
	drain(t, a)
	drain(t, b)
	send(t, p, "AAPL=shared")
	ba, bb := nextWithin(t, a), nextWithin(t, b)
	if unsafe.SliceData(ba.Msgs[0].Body) != unsafe.SliceData(bb.Msgs[0].Body) {
		t.Fatal("each subscriber has a copy of its own")
	}
	// Appending to what Next returned cannot write into the neighbour.
	_ = append(ba.Msgs[0].Topic, "!!"...)
	if got := string(bb.Msgs[0].Body); got != "shared" {
		t.Fatalf("an append to the topic wrote into the body: %q", got)
	}
}

// A subscriber's Next takes everything queued in one call.
func TestNextTakesEverythingQueuedAtOnce(t *testing.T) {
	t.Parallel()
	ns := inproc.NewNamespace()
	p := listen(t, ns, "feed")
	s := dial(t, ns, "feed", "")
	for i := range 5000 {
		p.Send(port.Message{Topic: []byte("T"), Body: fmt.Appendf(nil, "%d", i)})
	}
	p.Flush()
	b := nextWithin(t, s)
	if len(b.Events) != 1 || b.Events[0].Kind != port.LineUp || len(b.Msgs) != 5000 {
		t.Fatalf("one Next: %d events, %d messages; want LineUp and 5000", len(b.Events), len(b.Msgs))
	}
	for i, m := range b.Msgs {
		if string(m.Body) != fmt.Sprint(i) {
			t.Fatalf("message %d: %q", i, m.Body)
		}
	}
}

// A slow subscriber loses what is over its high-water mark, counted at the
// publisher; a fast one, on the same publisher, loses nothing.
func TestASlowSubscriberLosesCountedMessagesAndAFastOneNone(t *testing.T) {
	t.Parallel()
	const hwm, rounds, perRound = 100, 20, 50
	ns := inproc.NewNamespace()
	p := listen(t, ns, "feed", inproc.WithSendHWM(hwm))
	slow := dial(t, ns, "feed", "")
	fast := dial(t, ns, "feed", "")

	// The fast subscriber reads in its own goroutine, and says how many it
	// has after each batch; the publisher sends a round at a time and waits
	// until it has had it.
	progress := make(chan int, rounds*perRound+1)
	var fastGot []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(fastGot) < rounds*perRound {
			b, err := fast.Next(time.Time{})
			if err != nil {
				return
			}
			for _, m := range b.Msgs {
				fastGot = append(fastGot, string(m.Body))
			}
			progress <- len(fastGot)
		}
	}()
	for r := range rounds {
		for i := range perRound {
			p.Send(port.Message{Topic: []byte("T"), Body: fmt.Appendf(nil, "%d", r*perRound+i)})
		}
		p.Flush()
		for n := 0; n < (r+1)*perRound; {
			select {
			case n = <-progress:
			case <-time.After(10 * time.Second):
				t.Fatalf("the fast subscriber did not get round %d", r)
			}
		}
	}
	<-done
	for i, body := range fastGot {
		if body != fmt.Sprint(i) {
			t.Fatalf("fast subscriber: message %d is %q", i, body)
		}
	}
	if len(fastGot) != rounds*perRound {
		t.Fatalf("fast subscriber: %d of %d", len(fastGot), rounds*perRound)
	}

	got := drain(t, slow)
	if len(got) != 1+hwm || got[0] != "up" || got[1] != "T=0" || got[hwm] != fmt.Sprintf("T=%d", hwm-1) {
		t.Fatalf("slow subscriber got %d: %q ... ; want LineUp and the first %d", len(got), got[:min(len(got), 3)], hwm)
	}
	lost := uint64(rounds*perRound - hwm)
	if st := p.Stats(); st.Dropped != lost || st.Messages != rounds*perRound {
		t.Fatalf("stats %+v; want %d dropped", st, lost)
	}
	var drops []uint64
	for _, pe := range p.Peers() {
		drops = append(drops, pe.Dropped)
	}
	if slices.Sort(drops); !slices.Equal(drops, []uint64{0, lost}) {
		t.Fatalf("drops per subscriber %v, want [0 %d]", drops, lost)
	}
	// Monitoring sees which subscriber is slow: it alone has a series.
	var metricDrops []float64
	for _, m := range p.AppendMetrics(nil) {
		if m.Name == "sink_subscriber_dropped_messages_total" {
			metricDrops = append(metricDrops, m.Value)
		}
	}
	if !slices.Equal(metricDrops, []float64{float64(lost)}) {
		t.Fatalf("drops per subscriber in the metrics: %v, want [%d]", metricDrops, lost)
	}
	// Once it has caught up, it gets messages again.
	send(t, p, "T=again")
	expect(t, "after catching up", drain(t, slow), "T=again")
}

// The byte bound drops too: a subscriber's queue costs at most what
// WithSendBuffer says (plus one message).
func TestTheSendBufferBoundsBytesQueued(t *testing.T) {
	t.Parallel()
	ns := inproc.NewNamespace()
	p := listen(t, ns, "feed", inproc.WithSendBuffer(4096))
	s := dial(t, ns, "feed", "")
	body := strings.Repeat("x", 1000-1) // with a 1-byte topic: 1000 bytes, a 1024-byte buffer
	for range 10 {
		send(t, p, "T="+body)
	}
	got := drain(t, s)
	if len(got) != 1+4 {
		t.Fatalf("got %d messages of 1 KiB with a 4 KiB bound, want 4", len(got)-1)
	}
	if st := p.Stats(); st.Dropped != 6 {
		t.Fatalf("dropped %d, want 6", st.Dropped)
	}
}

// Control messages, and the first message on each topic, queue beyond the
// high-water mark: they tell the subscriber what it lost.
func TestControlMessagesHaveAReserve(t *testing.T) {
	t.Parallel()
	ns := inproc.NewNamespace()
	p := listen(t, ns, "feed", inproc.WithSendHWM(2))
	s := dial(t, ns, "feed", "")
	send(t, p, "A=1", "A=2", "A=3")    // A=3 over the mark
	send(t, p, "B=1")                  // first on B: reserve
	sendControl(t, p, "\x00ctl", "hb") // control: reserve
	send(t, p, "A=4")                  // over the mark
	expect(t, "over the mark", drain(t, s), "up", "A=1", "A=2", "B=1", "\x00ctl=hb")
	if st := p.Stats(); st.Dropped != 2 {
		t.Fatalf("dropped %d, want 2", st.Dropped)
	}
}

// A subscriber so far behind that even the reserve is full is disconnected
// and connected again at once, as zmtp cuts off such a peer: what was queued
// for it is dropped and counted, and it sees the line go down and up.
func TestAHopelesslySlowSubscriberIsConnectedAgain(t *testing.T) {
	t.Parallel()
	const hwm, reserve = 2, 1000 // zmtp's control reserve
	ns := inproc.NewNamespace()
	p := listen(t, ns, "feed", inproc.WithSendHWM(hwm))
	s := dial(t, ns, "feed", "")
	expect(t, "at first", drain(t, s), "up")
	send(t, p, "A=0")
	for i := range hwm + reserve - 1 {
		sendControl(t, p, "\x00ctl", fmt.Sprint(i))
	}
	send(t, p, "A=1") // data over the mark: dropped
	if st := p.Stats(); st.Dropped != 1 || p.PubStats().Cut != 0 {
		t.Fatalf("before the reserve is full: %+v, cut %d", st, p.PubStats().Cut)
	}
	sendControl(t, p, "\x00ctl", "last straw")
	sendControl(t, p, "\x00ctl", "after")
	expect(t, "cut off", drain(t, s), "down", "up", "\x00ctl=after")
	if st, ps := p.Stats(), p.PubStats(); st.Dropped != 1+1+hwm+reserve || ps.Cut != 1 || st.Peers != 1 {
		t.Fatalf("stats %+v %+v; want %d dropped, 1 cut, 1 peer", st, ps, 2+hwm+reserve)
	}
}

func TestWaitSubscribersWaitsForSubscriptions(t *testing.T) {
	t.Parallel()
	ns := inproc.NewNamespace()
	p := listen(t, ns, "feed")
	dial(t, ns, "feed") // connected, not subscribed: does not count

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.WaitSubscribers(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with a subscriber that subscribed to nothing: %v, want DeadlineExceeded", err)
	}

	done := make(chan error, 1)
	go func() { done <- p.WaitSubscribers(context.Background(), 2) }()
	a := dial(t, ns, "feed", "A")
	select {
	case err := <-done:
		t.Fatalf("returned with one subscriber of two: %v", err)
	default:
	}
	dial(t, ns, "feed", "B")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// What is sent from then on reaches them.
	send(t, p, "A=1")
	expect(t, "after WaitSubscribers", drain(t, a), "up", "A=1")

	go func() { done <- p.WaitSubscribers(context.Background(), 3) }()
	p.Close()
	if err := <-done; !errors.Is(err, inproc.ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

// A subscriber may connect before the publisher binds, as with ZeroMQ 4's
// inproc: it waits, and the line comes up when the publisher appears.
func TestASubscriberMayConnectBeforeThePublisherBinds(t *testing.T) {
	t.Parallel()
	ns := inproc.NewNamespace()
	s := dial(t, ns, "later", "")
	if b, err := s.Next(time.Now().Add(5 * time.Millisecond)); err != nil || len(b.Events)+len(b.Msgs) != 0 {
		t.Fatalf("before the publisher: %v, %+v", err, b)
	}
	if ns.Bound("later") {
		t.Fatal("a connecting subscriber bound the name")
	}
	got := make(chan []string, 1)
	go func() {
		b, err := s.Next(time.Now().Add(10 * time.Second))
		if err != nil {
			got <- []string{err.Error()}
			return
		}
		got <- render(t, b)
	}()
	p := listen(t, ns, "later")
	expect(t, "when the publisher binds", <-got, "up")
	if err := p.WaitSubscribers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	send(t, p, "A=1")
	expect(t, "then", drain(t, s), "A=1")
}

// When the publisher closes, its subscribers get what was queued for them,
// then LineDown; the name is free, and a publisher that binds it later is
// connected to them again.
func TestSubscribersConnectAgainToTheNextPublisher(t *testing.T) {
	t.Parallel()
	ns := inproc.NewNamespace()
	p1, err := inproc.Listen("inproc://feed", inproc.WithNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	s := dial(t, ns, "feed", "")
	send(t, p1, "A=1", "A=2")
	if err := p1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p1.Close(); !errors.Is(err, inproc.ErrClosed) {
		t.Fatalf("a second Close: %v, want ErrClosed", err)
	}
	if err := p1.Send(port.Message{Topic: []byte("A")}); !errors.Is(err, inproc.ErrClosed) {
		t.Fatalf("Send after Close: %v, want ErrClosed", err)
	}
	// Messages and the LineDown after them come in two batches, so that a
	// reader that handles a batch's events before its messages sees them in
	// order.
	b := nextWithin(t, s)
	expect(t, "first batch", render(t, b), "up", "A=1", "A=2")
	b = nextWithin(t, s)
	expect(t, "second batch", render(t, b), "down")
	if !strings.Contains(b.Events[0].Detail, "closed") {
		t.Fatalf("LineDown detail %q", b.Events[0].Detail)
	}
	if ns.Bound("feed") {
		t.Fatal("the name is still bound after the publisher closed")
	}
	p2 := listen(t, ns, "feed")
	send(t, p2, "B=1")
	expect(t, "the next publisher", drain(t, s), "up", "B=1")
}

func TestANameIsBoundOnceAtATime(t *testing.T) {
	t.Parallel()
	ns := inproc.NewNamespace()
	p := listen(t, ns, "feed")
	_, err := inproc.Listen("inproc://feed", inproc.WithNamespace(ns))
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("binding a bound name: %v, want EADDRINUSE", err)
	}
	if errors.Is(err, port.ErrEndpoint) {
		t.Fatalf("an address in use is not the endpoint's fault: %v", err)
	}
	if _, err := inproc.ListenSub("inproc://feed", inproc.WithNamespace(ns)); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("a subscriber binding a bound name: %v, want EADDRINUSE", err)
	}
	p.Close()
	listen(t, ns, "feed") // free again
}

func TestBadEndpointsAreRefused(t *testing.T) {
	t.Parallel()
	for _, e := range []string{"inproc://", "inproc:/x", "tcp://127.0.0.1:1", "x", "inproc://" + strings.Repeat("n", inproc.MaxName+1)} {
		for name, open := range map[string]func(string, ...inproc.Option) error{
			"Listen":    func(e string, o ...inproc.Option) error { _, err := inproc.Listen(e, o...); return err },
			"Dial":      func(e string, o ...inproc.Option) error { _, err := inproc.Dial(e, o...); return err },
			"DialPub":   func(e string, o ...inproc.Option) error { _, err := inproc.DialPub(e, o...); return err },
			"ListenSub": func(e string, o ...inproc.Option) error { _, err := inproc.ListenSub(e, o...); return err },
		} {
			err := open(e, inproc.WithNamespace(inproc.NewNamespace()))
			if !errors.Is(err, port.ErrEndpoint) || !errors.Is(err, inproc.ErrEndpoint) {
				t.Errorf("%s(%q): %v, want ErrEndpoint", name, e, err)
			}
		}
	}
	if _, err := inproc.ParseEndpoint("inproc://" + strings.Repeat("n", inproc.MaxName)); err != nil {
		t.Errorf("a name of MaxName bytes: %v", err)
	}
}

func TestNamespacesAreSeparate(t *testing.T) {
	t.Parallel()
	ns1, ns2 := inproc.NewNamespace(), inproc.NewNamespace()
	p1, p2 := listen(t, ns1, "feed"), listen(t, ns2, "feed")
	s1, s2 := dial(t, ns1, "feed", ""), dial(t, ns2, "feed", "")
	send(t, p1, "A=1")
	send(t, p2, "A=2")
	expect(t, "namespace 1", drain(t, s1), "up", "A=1")
	expect(t, "namespace 2", drain(t, s2), "up", "A=2")
}

// Without WithNamespace, sockets meet in the process-wide namespace.
func TestTheDefaultNamespaceIsProcessWide(t *testing.T) {
	t.Parallel()
	name := fmt.Sprintf("inproc://default-%p", t)
	p, err := inproc.Listen(name)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, err := inproc.Dial(name, inproc.WithNamespace(nil)) // nil: the default
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	subscribe(t, s, "")
	send(t, p, "A=1")
	expect(t, "default namespace", drain(t, s), "up", "A=1")
	if !inproc.DefaultNamespace().Bound(strings.TrimPrefix(name, "inproc://")) {
		t.Fatal("not bound in DefaultNamespace")
	}
}

// A subscriber may bind, and publishers connect to it (before or after):
// it takes all their feeds, each its own line event.
func TestASubscriberMayBindAndPublishersConnect(t *testing.T) {
	t.Parallel()
	ns := inproc.NewNamespace()
	early, err := inproc.DialPub("inproc://fan-in", inproc.WithNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()
	if err := early.Send(port.Message{Topic: []byte("lost")}); err != nil {
		t.Fatalf("a connecting publisher with nobody there: %v", err)
	}
	s, err := inproc.ListenSub("inproc://fan-in", inproc.WithNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	subscribe(t, s, "")
	late, err := inproc.DialPub("inproc://fan-in", inproc.WithNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	if err := late.WaitSubscribers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	send(t, early, "E=1")
	send(t, late, "L=1")
	send(t, early, "E=2")
	expect(t, "both feeds", drain(t, s), "up", "up", "E=1", "L=1", "E=2")
	early.Close()
	send(t, late, "L=2")
	expect(t, "one publisher gone", drain(t, s), "down", "L=2")
	if st := late.Stats(); st.Peers != 1 || st.Subscribed != 1 {
		t.Fatalf("the connected publisher's stats: %+v", st)
	}
	s.Close()
	if st := late.Stats(); st.Peers != 0 {
		t.Fatalf("after the subscriber closed: %+v, want no peer", st)
	}
	if ns.Bound("fan-in") {
		t.Fatal("the name is still bound after the binding subscriber closed")
	}
}

// Sockets of one kind cannot connect to each other: a subscriber dialling
// a name a subscriber binds waits for a publisher, as a ZeroMQ SUB would
// never get data from a SUB.
func TestSocketsOfOneKindDoNotConnect(t *testing.T) {
	t.Parallel()
	ns := inproc.NewNamespace()
	quiet := inproc.WithLogger(slog.New(slog.DiscardHandler)) // they warn that they wait
	bound, err := inproc.ListenSub("inproc://x", inproc.WithNamespace(ns), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer bound.Close()
	s, err := inproc.Dial("inproc://x", inproc.WithNamespace(ns), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	subscribe(t, s, "")
	expect(t, "subscriber to subscriber", drain(t, s))
	expect(t, "subscriber to subscriber, the binding side", drain(t, bound))
}

func TestNextWakeAndClose(t *testing.T) {
	t.Parallel()
	ns := inproc.NewNamespace()
	listen(t, ns, "feed")
	s := dial(t, ns, "feed", "")
	drain(t, s)

	t.Run("a deadline ends Next with an empty batch", func(t *testing.T) {
		start := time.Now()
		b, err := s.Next(start.Add(20 * time.Millisecond))
		if err != nil || len(b.Msgs)+len(b.Events) != 0 {
			t.Fatalf("%v, %+v", err, b)
		}
		if time.Since(start) < 20*time.Millisecond {
			t.Fatal("returned before its deadline")
		}
	})
	t.Run("Wake ends a Next in progress", func(t *testing.T) {
		done := make(chan error)
		go func() {
			b, err := s.Next(time.Time{})
			if err == nil && len(b.Msgs)+len(b.Events) != 0 {
				err = fmt.Errorf("woken with %+v", b)
			}
			done <- err
		}()
		// Wake until it returns: a Wake before Next starts waiting counts
		// too, so this ends whatever the timing.
		for {
			s.Wake()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
				return
			case <-time.After(time.Millisecond):
			}
		}
	})
	t.Run("Wake never blocks, and the next Next returns at once", func(t *testing.T) {
		for range 1000 {
			s.Wake()
		}
		if _, err := s.Next(time.Time{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Close ends a blocked Next with an error", func(t *testing.T) {
		done := make(chan error)
		go func() {
			_, err := s.Next(time.Time{})
			done <- err
		}()
		s.Close()
		if err := <-done; !errors.Is(err, inproc.ErrClosed) {
			t.Fatalf("%v, want ErrClosed", err)
		}
		if _, err := s.Next(time.Time{}); !errors.Is(err, inproc.ErrClosed) {
			t.Fatalf("Next after Close: %v", err)
		}
		if err := s.Subscribe([]byte("A")); !errors.Is(err, inproc.ErrClosed) {
			t.Fatalf("Subscribe after Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("a second Close: %v", err)
		}
	})
}

// A subscriber that closes with messages queued for it: they are dropped
// and counted at the publisher, which forgets it.
func TestASubscriberThatClosesIsForgotten(t *testing.T) {
	t.Parallel()
	ns := inproc.NewNamespace()
	p := listen(t, ns, "feed")
	s := dial(t, ns, "feed", "")
	send(t, p, "A=1", "A=2", "A=3")
	s.Close()
	if st := p.Stats(); st.Peers != 0 || st.Subscribed != 0 || st.Dropped != 3 {
		t.Fatalf("after the subscriber closed: %+v, want no peer and 3 dropped", st)
	}
	send(t, p, "A=4") // nobody there: not a drop
	if st := p.Stats(); st.Dropped != 3 {
		t.Fatalf("a message with no subscriber counted as dropped: %+v", st)
	}
}

// Nothing here runs a goroutine of its own: after every socket is closed,
// and every Next blocked in them has returned, none is left.
func TestClosingLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	ns := inproc.NewNamespace()
	p, _ := inproc.Listen("inproc://feed", inproc.WithNamespace(ns))
	var subs []*inproc.Sub
	var wg sync.WaitGroup
	for range 4 {
		s, _ := inproc.Dial("inproc://feed", inproc.WithNamespace(ns))
		s.Subscribe(nil)
		subs = append(subs, s)
		wg.Go(func() {
			for {
				if _, err := s.Next(time.Time{}); err != nil {
					return
				}
			}
		})
	}
	for i := range 1000 {
		p.Send(port.Message{Topic: []byte("A"), Body: fmt.Appendf(nil, "%d", i)})
		p.Flush()
	}
	p.Close()
	for _, s := range subs {
		s.Close()
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before", runtime.NumGoroutine(), before)
		}
		runtime.Gosched()
	}
	if ns.Bound("feed") {
		t.Fatal("the name is still bound")
	}
}

// The defaults are zmtp's: a feed behaves the same over inproc:// and tcp://.
func TestTheDefaultsAreZmtps(t *testing.T) {
	t.Parallel()
	if inproc.DefaultSendHWM != zmtp.DefaultSendHWM || inproc.DefaultSendBuffer != zmtp.DefaultSendBuffer ||
		inproc.DefaultMaxSubscriptions != zmtp.DefaultMaxSubscriptions {
		t.Fatal("inproc's defaults differ from zmtp's")
	}
}

// What a subscriber holds stays bounded however publishers come and go: a
// publisher that closed leaves its messages queued (they are delivered), and
// they count against the next publisher's high-water mark until they are
// taken; one that connects and goes with nothing sent between leaves no
// line event behind.
func TestASubscribersQueueStaysBoundedWhateverPublishersComeAndGo(t *testing.T) {
	t.Parallel()
	ns := inproc.NewNamespace()
	s, err := inproc.ListenSub("inproc://fan-in", inproc.WithNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	subscribe(t, s, "")
	dialPub := func() *inproc.Pub {
		p, err := inproc.DialPub("inproc://fan-in", inproc.WithNamespace(ns), inproc.WithSendHWM(5))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for range 1000 {
		dialPub().Close()
	}
	p1 := dialPub()
	send(t, p1, "T=0", "T=1", "T=2", "T=3", "T=4")
	p1.Close()
	p2 := dialPub()
	defer p2.Close()
	send(t, p2, "U=0", "U=1", "U=2") // U=0 is the first on its topic: it has the reserve
	expect(t, "after publishers came and went", drain(t, s),
		"up", "T=0", "T=1", "T=2", "T=3", "T=4", "down", "up", "U=0")
	if st := p2.Stats(); st.Dropped != 2 {
		t.Fatalf("the second publisher dropped %d, want 2", st.Dropped)
	}
	send(t, p2, "U=3")
	expect(t, "once taken", drain(t, s), "U=3")
}
