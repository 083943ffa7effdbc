package zmtp

// Specifications of the other way round: a Pub that connects (DialPub) and
// a Sub that binds (ListenSub). Waits are on what the other side reports
// (WaitSubscribers, Stats, Peers, a message), each under the safety net.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast/port"
)

// listenSub binds a Sub on loopback, subscribed to prefixes.
func listenSub(t *testing.T, prefixes []string, opts ...SubOption) *Sub {
	t.Helper()
	s, err := ListenSub("tcp://127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prefixes {
		if err := s.Subscribe([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dialPub connects a Pub to endpoint, retrying every 10ms.
func dialPub(t *testing.T, endpoint string, opts ...PubOption) *Pub {
	t.Helper()
	p, err := DialPub(endpoint, append([]PubOption{WithPubReconnect(10 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// readAll reads s until want messages arrived, under the safety net, and
// returns them with the line events seen meanwhile.
func readAll(t *testing.T, s *Sub, want int) got {
	t.Helper()
	var g got
	deadline := time.Now().Add(safety)
	for len(g.msgs) < want {
		if time.Now().After(deadline) {
			t.Fatalf("got %d of %d messages; events %v", len(g.msgs), want, g.events)
		}
		b, err := s.Next(time.Now().Add(100 * time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range b.Events {
			g.events = append(g.events, e.Kind)
		}
		for _, m := range b.Msgs {
			g.msgs = append(g.msgs, string(m.Topic)+"="+string(m.Body))
		}
	}
	return g
}

// goroutinesIn returns the stacks of the goroutines running any of funcs
// (as a goroutine dump names them, "zmtp.(*Pub).connector" say).
// goroutinesLeft is goroutinesIn once they have had a moment to exit: Close
// has waited for them, but one past its last deferred call (its WaitGroup's
// Done) may not have returned yet. A goroutine still working stays.
func goroutinesLeft(funcs ...string) []string {
	var g []string
	for deadline := time.Now().Add(time.Second); ; time.Sleep(5 * time.Millisecond) {
		if g = goroutinesIn(funcs...); len(g) == 0 || time.Now().After(deadline) {
			return g
		}
	}
}

func goroutinesIn(funcs ...string) []string {
	buf := make([]byte, 4<<20)
	n := runtime.Stack(buf, true)
	var out []string
	for g := range strings.SplitSeq(string(buf[:n]), "\n\n") {
		for _, f := range funcs {
			if strings.Contains(g, f) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// A Pub that connects feeds a Sub that binds as a Pub that binds feeds a
// Sub that connects: the subscriptions the Sub had before the connection
// reach the Pub with it, WaitSubscribers counts it, the Pub sends only what
// matches, and the line comes up first.
func TestAPubThatConnectsFeedsASubThatBinds(t *testing.T) {
	s := listenSub(t, []string{"AA", "MS"})
	if !strings.HasPrefix(s.Endpoint(), "tcp://127.0.0.1:") || strings.HasSuffix(s.Endpoint(), ":0") {
		t.Fatalf("Endpoint() = %q, want the bound address with its port", s.Endpoint())
	}
	p := dialPub(t, s.Endpoint())
	waitSubscribers(t, p, 1)
	if n := peerSubscriptions(p); n != 2 {
		t.Fatalf("the Pub counted the Sub with %d subscriptions, want both", n)
	}
	for _, m := range [][2]string{{"AAPL", "1"}, {"TSLA", "2"}, {"MSFT", "3"}, {"A", "4"}, {"AAX", "5"}} {
		p.Send(msg(m[0], m[1]))
	}
	p.Flush()
	g := readAll(t, s, 3)
	if want := []string{"AAPL=1", "MSFT=3", "AAX=5"}; !slices.Equal(g.msgs, want) {
		t.Fatalf("messages %v, want %v", g.msgs, want)
	}
	if !slices.Equal(g.events, []port.LineEventKind{port.LineUp}) {
		t.Fatalf("events %v, want the line up", g.events)
	}
	if st := p.Stats(); st.Endpoint != s.Endpoint() || st.Peers != 1 || st.Subscribed != 1 || st.Messages != 5 || st.Dropped != 0 {
		t.Fatalf("Pub stats %+v", st)
	}
	if st := s.Stats(); st.Publishers != 1 || st.Endpoint != s.Endpoint() || st.Refused+st.Cut+st.HandshakeErrors != 0 {
		t.Fatalf("Sub stats %+v", st)
	}
}

// The same over a unix socket.
func TestAPubThatConnectsOverIPC(t *testing.T) {
	ep := "ipc://" + filepath.Join(t.TempDir(), "feed.sock")
	s, err := ListenSub(ep)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Endpoint() != ep {
		t.Fatalf("Endpoint() = %q, want %q", s.Endpoint(), ep)
	}
	s.Subscribe([]byte("X"))
	p := dialPub(t, ep)
	waitSubscribers(t, p, 1)
	p.Send(msg("X", "over a unix socket"))
	p.Flush()
	if g := readAll(t, s, 1); g.msgs[0] != "X=over a unix socket" {
		t.Fatalf("got %v", g.msgs)
	}
}

// Several publishers connect to one binding Sub: it gets every message of
// each, each publisher's in order, and a LineUp per publisher.
func TestSeveralPublishersIntoOneBindingSub(t *testing.T) {
	s := listenSub(t, []string{""})
	const pubs, n = 3, 2000
	var ps []*Pub
	for range pubs {
		p := dialPub(t, s.Endpoint())
		waitSubscribers(t, p, 1)
		ps = append(ps, p)
	}
	for i := range n {
		for j, p := range ps {
			p.Send(msg(fmt.Sprintf("P%d", j), strconv.Itoa(i)))
		}
		if i%100 == 99 {
			for _, p := range ps {
				p.Flush()
			}
		}
	}
	for _, p := range ps {
		p.Flush()
	}
	g := readAll(t, s, pubs*n)
	next := make([]int, pubs)
	for _, m := range g.msgs {
		topic, body, _ := strings.Cut(m, "=")
		j, _ := strconv.Atoi(topic[1:])
		if body != strconv.Itoa(next[j]) {
			t.Fatalf("publisher %d: got %s, want %d: out of order or lost", j, body, next[j])
		}
		next[j]++
	}
	if len(g.msgs) != pubs*n {
		t.Fatalf("%d messages, want %d", len(g.msgs), pubs*n)
	}
	if want := slices.Repeat([]port.LineEventKind{port.LineUp}, pubs); !slices.Equal(g.events, want) {
		t.Fatalf("events %v, want %v", g.events, want)
	}
	if st := s.Stats(); st.Publishers != pubs {
		t.Fatalf("Sub stats %+v, want %d publishers", st, pubs)
	}
}

// Subscribe and Unsubscribe on a binding Sub reach every publisher
// connected, and a publisher that connects later gets the subscriptions as
// they are then.
func TestABindingSubSendsSubscriptionChangesToEveryPublisher(t *testing.T) {
	s := listenSub(t, []string{"A"})
	p1, p2 := dialPub(t, s.Endpoint()), dialPub(t, s.Endpoint())
	waitSubscribers(t, p1, 1)
	waitSubscribers(t, p2, 1)
	s.Subscribe([]byte("B"))
	s.Unsubscribe([]byte("A"))
	s.Subscribe([]byte("C"))
	for _, p := range []*Pub{p1, p2} {
		waitFor(t, "B and C, not A", func() bool { return peerSubscriptions(p) == 2 })
	}
	p3 := dialPub(t, s.Endpoint())
	waitFor(t, "the third publisher's subscriptions", func() bool { return peerSubscriptions(p3) == 2 })
	for i, p := range []*Pub{p1, p2, p3} {
		p.Send(msg("A", fmt.Sprint(i))) // not sent: A is off
		p.Send(msg("B", fmt.Sprint(i)))
		p.Send(msg("C", fmt.Sprint(i)))
		p.Flush()
	}
	g := readAll(t, s, 6)
	slices.Sort(g.msgs)
	if want := []string{"B=0", "B=1", "B=2", "C=0", "C=1", "C=2"}; !slices.Equal(g.msgs, want) {
		t.Fatalf("messages %v, want %v", g.msgs, want)
	}
}

// A binding Sub's line is down exactly while no publisher is connected:
// one publisher of two going leaves it up (the other's messages keep
// coming, with no event), the last one going takes it down.
func TestABindingSubsLineIsDownOnlyWhileNoPublisherIsConnected(t *testing.T) {
	s := listenSub(t, []string{""})
	p1, p2 := dialPub(t, s.Endpoint()), dialPub(t, s.Endpoint())
	waitSubscribers(t, p1, 1)
	waitSubscribers(t, p2, 1)
	p1.Send(msg("T", "from p1"))
	p1.Flush()
	p2.Send(msg("T", "from p2"))
	p2.Flush()
	if g := readAll(t, s, 2); !slices.Equal(g.events, []port.LineEventKind{port.LineUp, port.LineUp}) {
		t.Fatalf("events %v, want two LineUps", g.events)
	}
	p1.Close()
	waitFor(t, "the Sub to see p1 go", func() bool { return s.Stats().Publishers == 1 })
	p2.Send(msg("T", "p2 still here"))
	p2.Flush()
	if g := readAll(t, s, 1); len(g.events) != 0 || g.msgs[0] != "T=p2 still here" {
		t.Fatalf("after p1 left: %+v, want p2's message and no line event", g)
	}
	p2.Close()
	var events []port.LineEventKind
	deadline := time.Now().Add(safety)
	for !slices.Contains(events, port.LineDown) && time.Now().Before(deadline) {
		b, err := s.Next(time.Now().Add(50 * time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range b.Events {
			events = append(events, e.Kind)
		}
	}
	if !slices.Equal(events, []port.LineEventKind{port.LineDown}) {
		t.Fatalf("events after the last publisher left: %v, want one LineDown", events)
	}
}

// A Pub that connects connects again, WithPubReconnect apart, when the Sub
// it fed goes away and another binds the same address: the new Sub's
// subscriptions arrive with the new connection, and WaitSubscribers counts
// it.
func TestAConnectingPubReconnectsWhenTheBindingSubRestarts(t *testing.T) {
	s1, err := ListenSub("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := s1.Endpoint()
	s1.Subscribe([]byte("X"))
	p := dialPub(t, ep)
	waitSubscribers(t, p, 1)
	p.Send(msg("X", "first"))
	p.Flush()
	if g := readAll(t, s1, 1); g.msgs[0] != "X=first" {
		t.Fatalf("first Sub got %v", g.msgs)
	}
	s1.Close()
	waitFor(t, "the Pub to see its subscriber go", func() bool { return p.Stats().Peers == 0 })

	s2, err := ListenSub(ep) // the same port
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	s2.Subscribe([]byte("Y"))
	waitSubscribers(t, p, 1)
	p.Send(msg("X", "not subscribed any more"))
	p.Send(msg("Y", "second"))
	p.Flush()
	g := readAll(t, s2, 1)
	if !slices.Equal(g.msgs, []string{"Y=second"}) || !slices.Equal(g.events, []port.LineEventKind{port.LineUp}) {
		t.Fatalf("second Sub got %+v, want the line up and Y's message alone", g)
	}
}

// A Pub that connects keeps its subscriber's queue within the high-water
// mark like one that binds: a binding Sub that is not read stops reading
// its socket once its few buffers are taken, the Pub drops what is over
// the mark and counts it, and what the Sub then reads is exactly what was
// not dropped, in order.
func TestAConnectingPubCountsWhatItDropsForASubThatDoesNotRead(t *testing.T) {
	s := listenSub(t, []string{""})
	p := dialPub(t, s.Endpoint(), WithSendHWM(100))
	waitSubscribers(t, p, 1)
	const n = 20_000
	body := make([]byte, 4096)
	for i := range n {
		copy(body, fmt.Sprintf("%08d", i))
		p.Send(port.Message{Topic: []byte("T"), Body: body})
		if i%100 == 99 {
			p.Flush()
		}
	}
	p.Flush()
	st := p.Stats()
	peers := p.Peers()
	if st.Dropped == 0 || len(peers) != 1 || peers[0].Dropped != st.Dropped || peers[0].Queued > 100 {
		t.Fatalf("stats %+v, peers %+v: want drops counted, the queue held at the HWM", st, peers)
	}
	g := readAll(t, s, n-int(st.Dropped))
	last := -1
	for _, m := range g.msgs {
		i, err := strconv.Atoi(m[len("T="):][:8])
		if err != nil || i <= last {
			t.Fatalf("message %q after %d: out of order", m[:10], last)
		}
		last = i
	}
	if got := uint64(len(g.msgs)) + st.Dropped; got != n {
		t.Fatalf("received %d + dropped %d = %d, want %d", len(g.msgs), st.Dropped, got, n)
	}
}

// A binding Sub takes at most WithMaxPublishers connections; one beyond is
// closed at once and counted, and those in keep working.
func TestABindingSubRefusesPublishersOverItsLimit(t *testing.T) {
	s := listenSub(t, []string{""}, WithMaxPublishers(2))
	p1, p2 := dialPub(t, s.Endpoint()), dialPub(t, s.Endpoint())
	waitSubscribers(t, p1, 1)
	waitSubscribers(t, p2, 1)
	c, err := net.Dial("tcp", strings.TrimPrefix(s.Endpoint(), "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	closedByPeer(t, c, "the connection over the limit to be closed")
	if st := s.Stats(); st.Refused != 1 || st.Publishers != 2 {
		t.Fatalf("Sub stats %+v, want one refused, two publishers", st)
	}
	p2.Send(msg("T", "still served"))
	p2.Flush()
	if g := readAll(t, s, 1); g.msgs[0] != "T=still served" {
		t.Fatalf("got %v", g.msgs)
	}
}

// A publisher that breaks the protocol (a message over WithMaxMessage,
// announced in its frame header) is cut off, counted, before the bytes
// arrive; the other publishers are not affected.
func TestABindingSubCutsOffAPublisherBreakingTheProtocol(t *testing.T) {
	s := listenSub(t, []string{""}, WithMaxMessage(64<<10))
	good := dialPub(t, s.Endpoint())
	waitSubscribers(t, good, 1)
	c, err := net.Dial("tcp", strings.TrimPrefix(s.Endpoint(), "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := handshake(c, typePub); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte{flagMore, 1, 'T', flagLong, 0, 0, 0, 0, 0, 0x10, 0, 0}) // a 1 MiB body
	closedByPeer(t, c, "the hostile publisher to be cut off")
	if st := s.Stats(); st.Cut != 1 || st.Publishers != 1 {
		t.Fatalf("Sub stats %+v, want one cut off, one publisher left", st)
	}
	good.Send(msg("T", "still here"))
	good.Flush()
	g := readAll(t, s, 1)
	if g.msgs[0] != "T=still here" || slices.Contains(g.events, port.LineDown) {
		t.Fatalf("got %+v, want the good publisher's message and the line still up", g)
	}
}

// Wake ends a binding Sub's Next that waits with no deadline, with an
// empty batch, not an error; Close ends it with ErrClosed.
func TestWakeAndCloseEndABindingSubsNext(t *testing.T) {
	s := listenSub(t, []string{""})
	blocked := func() bool { return len(goroutinesIn("zmtp.(*subServer).next")) > 0 }
	ch := nextAsync(s, time.Time{})
	waitFor(t, "Next to block", blocked)
	s.Wake()
	if o := await(t, s, ch, "Next after Wake"); !o.empty() {
		t.Fatalf("Next after Wake = %+v, want an empty batch", o)
	}
	ch = nextAsync(s, time.Time{})
	waitFor(t, "Next to block", blocked)
	s.Close()
	select {
	case o := <-ch:
		if o.err != ErrClosed {
			t.Fatalf("Next after Close = %v, want ErrClosed", o.err)
		}
	case <-time.After(safety):
		t.Fatal("Next still blocked after Close")
	}
	if err := s.Subscribe([]byte("X")); err != ErrClosed {
		t.Fatalf("Subscribe after Close = %v, want ErrClosed", err)
	}
}

// Close stops every goroutine: a binding Sub's accept loop, its
// publishers' readers (one blocked handing a segment to a Next that is not
// called, one idle) and a handshake in progress; a connecting Pub's
// connector and its peer's reader and writer, and one's connector blocked
// in a handshake that never ends, and one's pausing between refused
// attempts.
func TestCloseStopsEveryGoroutine(t *testing.T) {
	s := listenSub(t, []string{""})
	busy, idle := dialPub(t, s.Endpoint()), dialPub(t, s.Endpoint())
	waitSubscribers(t, busy, 1)
	waitSubscribers(t, idle, 1)
	for range 5000 {
		busy.Send(port.Message{Topic: []byte("T"), Body: make([]byte, 1024)})
	}
	busy.Flush()
	mute, err := net.Dial("tcp", strings.TrimPrefix(s.Endpoint(), "tcp://")) // never says a word
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	waitFor(t, "the handshake to start", func() bool { return len(goroutinesIn("zmtp.(*subServer).serve")) == 3 })
	if n := len(goroutinesIn("zmtp.(*pubConn).read")); n != 2 {
		t.Fatalf("%d readers, want 2", n)
	}
	s.Close()
	if g := goroutinesLeft("zmtp.(*subServer)", "zmtp.(*pubConn)"); len(g) > 0 {
		t.Fatalf("after Close, %d of the Sub's goroutines run:\n%s", len(g), strings.Join(g, "\n\n"))
	}

	// A publisher whose peer never answers the handshake.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	stuck := dialPub(t, "tcp://"+ln.Addr().String())
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// And one whose attempts are refused.
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln2.Close()
	refused := dialPub(t, "tcp://"+ln2.Addr().String(), WithPubLogger(slog.New(slog.DiscardHandler)))
	waitFor(t, "a refused attempt", func() bool { return refused.dialLog.attempts() > 0 })
	if n := len(goroutinesIn("zmtp.(*Pub).connector")); n != 4 {
		t.Fatalf("%d connectors, want 4", n)
	}
	for _, p := range []*Pub{busy, idle, stuck, refused} {
		start := time.Now()
		p.Close()
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Close took %v (linger 1s)", d)
		}
	}
	if g := goroutinesLeft("zmtp.(*Pub)", "zmtp.(*peer)"); len(g) > 0 {
		t.Fatalf("after Close, %d of the Pubs' goroutines run:\n%s", len(g), strings.Join(g, "\n\n"))
	}
}

// An endpoint a connecting Pub cannot reach is visible at the default
// level (Warn), with the endpoint as an attribute: once at the first
// failure, not again for 30 s however often it retries; and its coming
// back is said too, with the count of failed attempts.
func TestAConnectingPubLogsAnUnreachableEndpointRateLimited(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "tcp://" + ln.Addr().String()
	ln.Close() // nobody listens: connections are refused
	var buf lockedBuffer
	p := dialPub(t, ep, WithPubLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	waitFor(t, "20 refused attempts", func() bool { return p.dialLog.attempts() >= 20 })
	out := buf.String()
	if n := strings.Count(out, "cannot connect"); n != 1 || !strings.Contains(out, "level=WARN") ||
		!strings.Contains(out, "endpoint="+ep) || !strings.Contains(out, "connection refused") {
		t.Fatalf("%d warnings after 20 refused attempts, want 1 at WARN naming endpoint=%s and the reason:\n%s", n, ep, out)
	}
	s, err := ListenSub(ep)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer s.Close()
	waitFor(t, "the connection to be logged", func() bool { return strings.Contains(buf.String(), "after_failed_attempts=") })
	if !strings.Contains(buf.String(), `msg="zmtp: connected" endpoint=`+ep) {
		t.Fatalf("log:\n%s", buf.String())
	}
}

// So is an endpoint a Requester cannot reach: each Request fails at once
// with the reason, and the log says so once, at Warn, with the endpoint.
func TestARequesterLogsAnUnreachableEndpointRateLimited(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "tcp://" + ln.Addr().String()
	ln.Close()
	var buf lockedBuffer
	q := requester(t, ep, WithRequesterLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	for range 5 {
		if _, err := q.Request(ctx, []byte("q")); err == nil {
			t.Fatal("a Request to nobody succeeded")
		}
	}
	out := buf.String()
	if n := strings.Count(out, "cannot connect"); n != 1 || !strings.Contains(out, "level=WARN") ||
		!strings.Contains(out, "endpoint="+ep) || !strings.Contains(out, "failed_attempts=1") {
		t.Fatalf("%d warnings after 5 failed Requests, want 1 at WARN naming endpoint=%s:\n%s", n, ep, out)
	}
	r, err := ListenReplier(ep, echo)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer r.Close()
	if got := request(t, q, "hello"); !slices.Equal(got, []string{"hello"}) {
		t.Fatalf("reply %q", got)
	}
	if !strings.Contains(buf.String(), "after_failed_attempts=5") {
		t.Fatalf("the connection after 5 failures was not logged:\n%s", buf.String())
	}
	// A Request that ends because its context does is the caller's doing:
	// not logged.
	before := buf.String()
	done, stop := context.WithCancel(context.Background())
	stop()
	q2 := requester(t, ep, WithRequesterLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	q2.Request(done, []byte("q"))
	if buf.String() != before {
		t.Fatalf("a cancelled Request was logged:\n%s", strings.TrimPrefix(buf.String(), before))
	}
}

// A publisher that sends a flood of the smallest messages (one empty
// frame, 2 bytes each) gets them all through a binding Sub, in order, and
// no segment carries more than maxSegmentMessages: what a message costs
// beyond its bytes stays bounded.
func TestABindingSubBoundsTheMessagesOfASegment(t *testing.T) {
	sub, err := ListenSub("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Subscribe(nil); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", strings.TrimPrefix(sub.Endpoint(), "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := handshake(c, typePub); err != nil {
		t.Fatal(err)
	}
	const n = 50_000
	flood := bytes.Repeat([]byte{0, 0}, n) // n messages of one empty frame
	go c.Write(flood)
	got := 0
	for deadline := time.Now().Add(20 * time.Second); got < n && time.Now().Before(deadline); {
		b, err := sub.Next(time.Now().Add(100 * time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		for _, seg := range sub.srv.held { // the segments of this batch
			if len(seg.msgs) > maxSegmentMessages {
				t.Fatalf("a segment of %d messages", len(seg.msgs))
			}
		}
		for _, m := range b.Msgs {
			if m.Frames != 1 || len(m.Topic) != 0 {
				t.Fatalf("message %d: %+v", got, m)
			}
			got++
		}
	}
	if got != n {
		t.Fatalf("got %d of %d messages", got, n)
	}
}
