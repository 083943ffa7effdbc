package zmtp

// Specifications of Sub.Wake, Sub.Unsubscribe, Pub.WaitSubscribers and
// SinkStats.Subscribed. Waits are on what the other side reports (a
// message, Peers, Stats, WaitSubscribers), each bounded by a safety net that
// fails the test rather than hanging it.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast/port"
)

// safety bounds every wait: a safety net, not a means of synchronisation.
const safety = 10 * time.Second

// outcome is what one Sub.Next returned, copied out of the batch (which is
// valid only until the next call).
type outcome struct {
	msgs   []string // "topic=body"
	events []port.LineEventKind
	err    error
}

func (o outcome) empty() bool { return len(o.msgs) == 0 && len(o.events) == 0 }

// nextAsync calls s.Next(deadline) in a goroutine and hands over what it
// returned.
func nextAsync(s *Sub, deadline time.Time) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		var o outcome
		b, err := s.Next(deadline)
		o.err = err
		if b != nil {
			for _, e := range b.Events {
				o.events = append(o.events, e.Kind)
			}
			for _, m := range b.Msgs {
				o.msgs = append(o.msgs, string(m.Topic)+"="+string(m.Body))
			}
		}
		ch <- o
	}()
	return ch
}

// await returns what Next returned; if it does not return within safety,
// the test fails, and s is closed so that the blocked Next ends with it.
func await(t *testing.T, s *Sub, ch <-chan outcome, what string) outcome {
	t.Helper()
	timer := time.NewTimer(safety)
	defer timer.Stop()
	select {
	case o := <-ch:
		if o.err != nil {
			t.Fatalf("%s: Next = %v", what, o.err)
		}
		return o
	case <-timer.C:
		s.Close()
		<-ch
		t.Fatalf("%s: Next still blocked after %v", what, safety)
		return outcome{}
	}
}

// waitSubscribers calls p.WaitSubscribers under the safety net.
func waitSubscribers(t *testing.T, p *Pub, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	if err := p.WaitSubscribers(ctx, n); err != nil {
		t.Fatalf("WaitSubscribers(%d) = %v; stats %+v, peers %+v", n, err, p.Stats(), p.Peers())
	}
}

// connected returns a Sub subscribed to prefixes whose connection p counts
// as subscribed, and whose Next has taken the connection (reported
// LineUp): from then on Next reads the socket.
func connected(t *testing.T, p *Pub, prefixes ...string) *Sub {
	t.Helper()
	before := p.Stats().Subscribed
	s := dial(t, p.Endpoint(), prefixes...)
	waitSubscribers(t, p, before+1)
	o := await(t, s, nextAsync(s, time.Time{}), "taking the connection")
	if !slices.Equal(o.events, []port.LineEventKind{port.LineUp}) || len(o.msgs) > 0 {
		t.Fatalf("first Next: %+v, want the line up and nothing else", o)
	}
	return s
}

// nextBlocked waits until a goroutine is blocked in s's Next, in the state
// given ("select": waiting for a connection; "IO wait": reading the
// socket) with the function given on its stack, as a goroutine dump shows
// it: so that a test can act on a Next that is really waiting, not one that
// has yet to start. (Nothing else in this package's tests blocks inside a
// Sub's Next or read.)
func nextBlocked(t *testing.T, state, function string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	waitFor(t, "Next to block in "+function, func() bool {
		n := runtime.Stack(buf, true)
		for g := range strings.SplitSeq(string(buf[:n]), "\n\n") {
			if strings.Contains(g, "["+state) && strings.Contains(g, "zmtp.(*Sub)."+function+"(") &&
				strings.Contains(g, "zmtp.nextAsync") {
				return true
			}
		}
		return false
	})
}

// peerSubscriptions returns the subscriptions of p's only peer (-1 if it
// has not exactly one).
func peerSubscriptions(p *Pub) int {
	peers := p.Peers()
	if len(peers) != 1 {
		return -1
	}
	return peers[0].Subscriptions
}

// Wake ends a Next that waits, with no deadline, for a publisher that is
// not there: it returns an empty batch, not an error, and the Sub goes on
// trying to connect.
func TestWakeEndsANextWaitingForAConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens: every attempt is refused
	s, err := Dial("tcp://"+addr, WithReconnect(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for round := range 3 {
		ch := nextAsync(s, time.Time{})
		nextBlocked(t, "select", "Next")
		s.Wake()
		if o := await(t, s, ch, "Next after Wake"); !o.empty() {
			t.Fatalf("round %d: Next after Wake = %+v, want an empty batch", round, o)
		}
	}
}

// Wake ends a Next that reads, with no deadline, a publisher with nothing
// to say: an empty batch, at once. The connection is none the worse: the
// read deadline Wake moved is set again, so the next Next, with no
// deadline either, blocks until a message comes and gets it, with no
// LineDown (a stale deadline would time the read out, and the Sub would
// take that for a dead connection).
func TestWakeEndsANextReadingASilentPublisherAndTheConnectionStays(t *testing.T) {
	p := listen(t)
	s := connected(t, p, "T")
	for round := range 3 {
		ch := nextAsync(s, time.Time{})
		nextBlocked(t, "IO wait", "read")
		s.Wake()
		if o := await(t, s, ch, "Next after Wake"); !o.empty() {
			t.Fatalf("round %d: Next after Wake = %+v, want an empty batch", round, o)
		}
	}
	ch := nextAsync(s, time.Time{})
	p.Send(msg("T", "after the wakes"))
	p.Flush()
	o := await(t, s, ch, "the message after the wakes")
	if !slices.Equal(o.msgs, []string{"T=after the wakes"}) || len(o.events) > 0 {
		t.Fatalf("Next = %+v, want the message and no line event", o)
	}
	if st := p.Stats(); st.Peers != 1 || st.Subscribed != 1 {
		t.Fatalf("publisher stats %+v: the subscriber reconnected", st)
	}
}

// Wakes may come at any moment relative to Next (as the subscriber's
// context watch sends them): before its read, during it, between two calls.
// None may cost the connection: a Wake that lands after the Next it was
// meant for has returned ends, at most, the next one early.
func TestWakesAtAnyMomentNeverDropTheConnection(t *testing.T) {
	p := listen(t)
	s := connected(t, p, "T")
	type result struct {
		events []string // "kind: detail"
		msgs   []string
		calls  int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		for {
			b, err := s.Next(time.Time{})
			r.calls++
			if err != nil {
				r.err = err
				done <- r
				return
			}
			for _, e := range b.Events {
				r.events = append(r.events, fmt.Sprintf("%d: %s", e.Kind, e.Detail))
			}
			for _, m := range b.Msgs {
				r.msgs = append(r.msgs, string(m.Topic)+"="+string(m.Body))
			}
			if len(r.msgs) > 0 || len(r.events) > 0 {
				done <- r
				return
			}
		}
	}()
	for range 20_000 {
		s.Wake()
		runtime.Gosched() // let the reader get anywhere between two Wakes
	}
	p.Send(msg("T", "end"))
	p.Flush()
	var r result
	select {
	case r = <-done:
	case <-time.After(safety):
		s.Close()
		r = <-done
		t.Fatalf("the reader did not get the message: %+v", r)
	}
	if r.err != nil || len(r.events) > 0 || !slices.Equal(r.msgs, []string{"T=end"}) {
		t.Fatalf("after %d calls of Next: %+v; want the message, no line event", r.calls, r)
	}
}

// The case the test above finds by chance, made exact. Wake raises its flag,
// then moves the connection's read deadline to now; the flag alone may end
// the Next it was meant for, so the move can land between two calls, on a
// deadline that Next set and still believes in. The next read must neither
// take the timeout for a dead connection (no deadline of its own: it would
// drop it) nor keep the stale deadline (a distant one: every later read
// would end at once, and nothing would be read until it passed). At most
// one Next returns early and empty; the message comes next.
func TestAWakeLandingBetweenTwoNextsCostsAtMostOneEarlyReturn(t *testing.T) {
	for _, far := range []bool{false, true} {
		name := map[bool]string{false: "no deadline", true: "a distant deadline"}[far]
		t.Run(name, func(t *testing.T) {
			p := listen(t)
			s := connected(t, p, "T")
			var deadline time.Time
			if far {
				deadline = time.Now().Add(time.Hour)
			}
			p.Send(msg("T", "one"))
			p.Flush()
			if o := await(t, s, nextAsync(s, deadline), "the first message"); !slices.Equal(o.msgs, []string{"T=one"}) {
				t.Fatalf("Next = %+v, want the first message", o)
			}
			// The second half of a Wake whose flag was already spent.
			s.mu.Lock()
			s.conn.SetReadDeadline(time.Now())
			s.mu.Unlock()
			p.Send(msg("T", "two"))
			p.Flush()
			var o outcome
			for call := 1; ; call++ {
				o = await(t, s, nextAsync(s, deadline), "the second message")
				if !o.empty() || call == 2 {
					break
				}
			}
			if !slices.Equal(o.msgs, []string{"T=two"}) || len(o.events) > 0 {
				t.Fatalf("Next = %+v, want the second message (after one early return at most), no line event", o)
			}
		})
	}
}

// After Unsubscribe the publisher no longer sends the topic to this peer:
// a message on it sent before one on a topic still subscribed does not
// arrive (messages to a peer keep their order, so the second arriving
// first means the first was never sent). Subscribing again brings it back.
func TestUnsubscribeStopsThePublisherSendingTheTopic(t *testing.T) {
	p := listen(t)
	s := dial(t, p.Endpoint(), "A", "B")
	waitFor(t, "both subscriptions", func() bool { return peerSubscriptions(p) == 2 })
	if err := s.Unsubscribe([]byte("A")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the publisher to take A off", func() bool { return peerSubscriptions(p) == 1 })
	p.Send(msg("AAPL", "unsubscribed"))
	p.Send(msg("BIDU", "subscribed"))
	p.Flush()
	if g := collect(t, s, 1); g.msgs[0] != "BIDU=subscribed" || slices.Contains(g.msgs, "AAPL=unsubscribed") {
		t.Fatalf("got %v, want BIDU only", g.msgs)
	}
	if err := s.Subscribe([]byte("A")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the publisher to take A back", func() bool { return peerSubscriptions(p) == 2 })
	p.Send(msg("AAPL", "subscribed again"))
	p.Flush()
	if g := collect(t, s, 1); !slices.Equal(g.msgs, []string{"AAPL=subscribed again"}) {
		t.Fatalf("got %v, want AAPL again", g.msgs)
	}
	// A prefix never subscribed: nothing to undo, nothing sent.
	if err := s.Unsubscribe([]byte("Z")); err != nil {
		t.Fatalf("Unsubscribe of a prefix not subscribed = %v", err)
	}
}

// Subscriptions are counted at both ends, as ZeroMQ's are: a prefix
// subscribed twice stays after one Unsubscribe.
func TestUnsubscribeUndoesOneSubscribe(t *testing.T) {
	p := listen(t)
	s := dial(t, p.Endpoint(), "A", "A")
	waitSubscribers(t, p, 1)
	if err := s.Unsubscribe([]byte("A")); err != nil {
		t.Fatal(err)
	}
	// The Pub takes a peer's messages in order: once it has M, it has
	// had the Unsubscribe before it.
	if err := s.Subscribe([]byte("M")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the publisher to take M", func() bool { return peerSubscriptions(p) == 2 })
	p.Send(msg("AAPL", "still subscribed once"))
	p.Flush()
	if g := collect(t, s, 1); !slices.Equal(g.msgs, []string{"AAPL=still subscribed once"}) {
		t.Fatalf("got %v", g.msgs)
	}
}

// A peer that has connected and finished the handshake but subscribed to
// nothing receives nothing: WaitSubscribers does not count it (it runs out
// its context), nor does SinkStats.Subscribed. A Sub that subscribes ends a
// WaitSubscribers in progress; the first peer counts once it subscribes too.
func TestWaitSubscribersCountsOnlyPeersThatSubscribed(t *testing.T) {
	p := listen(t)
	raw := rawSub(t, p, false) // handshake, no subscription
	waitFor(t, "the raw peer", func() bool { return len(p.Peers()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.WaitSubscribers(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitSubscribers with a peer that did not subscribe = %v, want the context's error", err)
	}
	if st := p.Stats(); st.Peers != 1 || st.Subscribed != 0 {
		t.Fatalf("stats %+v, want 1 peer, 0 subscribed", st)
	}

	waited := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), safety)
		defer cancel()
		waited <- p.WaitSubscribers(ctx, 1)
	}()
	dial(t, p.Endpoint(), "A")
	if err := <-waited; err != nil {
		t.Fatalf("WaitSubscribers while a Sub subscribed = %v", err)
	}
	if st := p.Stats(); st.Peers != 2 || st.Subscribed != 1 {
		t.Fatalf("stats %+v, want 2 peers, 1 subscribed", st)
	}

	if _, err := raw.Write(appendSubscription(nil, true, []byte("X"))); err != nil {
		t.Fatal(err)
	}
	waitSubscribers(t, p, 2)
	if st := p.Stats(); st.Subscribed != 2 {
		t.Fatalf("stats %+v, want 2 subscribed", st)
	}
}

// Close ends a WaitSubscribers in progress with ErrClosed, and one called
// afterwards returns ErrClosed at once.
func TestWaitSubscribersReturnsErrClosedWhenThePubCloses(t *testing.T) {
	p, err := Listen("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- p.WaitSubscribers(context.Background(), 1) }()
	p.Close()
	select {
	case err := <-waited:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("WaitSubscribers across Close = %v, want ErrClosed", err)
		}
	case <-time.After(safety):
		t.Fatal("WaitSubscribers still blocked after Close")
	}
	if err := p.WaitSubscribers(context.Background(), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitSubscribers after Close = %v, want ErrClosed", err)
	}
}

// A Sub that subscribed to several prefixes before it connected sends them
// all at once; the publisher counts it with all of them in, so that what is
// sent the moment WaitSubscribers returns reaches it, whichever prefix it
// matches. 500 prefixes, 7 bytes each: one write of 3,500 bytes, which the
// publisher takes in one read (its buffer holds 4 KiB); a peer counted at its
// first subscription would be seen with only some of them, if the publisher
// is slow enough. (An ipc:// endpoint: nothing can take it between Dial and
// Listen.)
func TestWaitSubscribersCountsAPeerWithEverySubscriptionItSentAtOnce(t *testing.T) {
	ep := "ipc://" + filepath.Join(t.TempDir(), "feed.sock")
	var prefixes []string
	for i := range 500 {
		prefixes = append(prefixes, fmt.Sprintf("S%03d", i))
	}
	s := dial(t, ep, prefixes...) // nobody listens yet: the Sub keeps trying
	p, err := Listen(ep)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	waitSubscribers(t, p, 1)
	if n := peerSubscriptions(p); n != len(prefixes) {
		t.Fatalf("counted as subscribed with %d subscriptions, want all %d", n, len(prefixes))
	}
	p.Send(msg("S499", "at once"))
	p.Flush()
	if g := collect(t, s, 1); !slices.Equal(g.msgs, []string{"S499=at once"}) {
		t.Fatalf("got %v", g.msgs)
	}
}

// SinkStats.Subscribed counts the peers with a subscription: one that
// unsubscribes from everything is still connected (Peers) but no longer
// counted, one that leaves is neither, and one that subscribes again counts
// again.
func TestSubscribedCountsPeersUntilTheyUnsubscribeEverythingOrLeave(t *testing.T) {
	p := listen(t)
	a := dial(t, p.Endpoint(), "A")
	b := dial(t, p.Endpoint(), "B")
	waitSubscribers(t, p, 2)
	if st := p.Stats(); st.Peers != 2 || st.Subscribed != 2 {
		t.Fatalf("stats %+v, want 2 peers, 2 subscribed", st)
	}
	if err := a.Unsubscribe([]byte("A")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the unsubscribed peer to be uncounted", func() bool {
		st := p.Stats()
		return st.Peers == 2 && st.Subscribed == 1
	})
	b.Close()
	waitFor(t, "the peer that left to be uncounted", func() bool {
		st := p.Stats()
		return st.Peers == 1 && st.Subscribed == 0
	})
	if err := a.Subscribe([]byte("C")); err != nil {
		t.Fatal(err)
	}
	waitSubscribers(t, p, 1)
	if st := p.Stats(); st.Peers != 1 || st.Subscribed != 1 {
		t.Fatalf("stats %+v, want 1 peer, 1 subscribed", st)
	}
}

// Subscription changes on a closed Sub return ErrClosed.
func TestSubSubscriptionChangesAfterCloseAreErrClosed(t *testing.T) {
	s, err := Dial("tcp://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Subscribe([]byte("A")); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want ErrClosed", err)
	}
	if err := s.Unsubscribe([]byte("A")); !errors.Is(err, ErrClosed) {
		t.Errorf("Unsubscribe after Close = %v, want ErrClosed", err)
	}
}
