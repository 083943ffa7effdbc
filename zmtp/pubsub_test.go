package zmtp

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/tickcast/tickcast/port"
)

// All traffic in these tests stays on 127.0.0.1 (or a unix socket).

func msg(topic, body string) port.Message {
	return port.Message{Topic: []byte(topic), Body: []byte(body)}
}

func listen(t *testing.T, opts ...PubOption) *Pub {
	t.Helper()
	p, err := Listen("tcp://127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, endpoint string, prefixes ...string) *Sub {
	t.Helper()
	s, err := Dial(endpoint, WithReconnect(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prefixes {
		s.Subscribe([]byte(p))
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// subscribed waits until the Pub has n peers with at least k subscriptions.
func subscribed(t *testing.T, p *Pub, n, k int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d subscribers", n), func() bool {
		peers := p.Peers()
		if len(peers) != n {
			return false
		}
		for _, q := range peers {
			if q.Subscriptions < k {
				return false
			}
		}
		return true
	})
}

type got struct {
	msgs   []string // "topic=body"
	events []port.LineEventKind
}

// collect reads from s until want messages arrived (10s at most), pumping
// Next in this goroutine; the sub keeps connecting in the meantime.
func collect(t *testing.T, s *Sub, want int) got {
	t.Helper()
	var g got
	deadline := time.Now().Add(10 * time.Second)
	for len(g.msgs) < want {
		if time.Now().After(deadline) {
			t.Fatalf("got %d of %d messages: %v", len(g.msgs), want, g.msgs)
		}
		b, err := s.Next(time.Now().Add(100 * time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range b.Events {
			g.events = append(g.events, e.Kind)
		}
		for _, m := range b.Msgs {
			if m.Frames != 2 {
				t.Fatalf("%d frames", m.Frames)
			}
			g.msgs = append(g.msgs, string(m.Topic)+"="+string(m.Body))
		}
	}
	return g
}

// pump reads s in the background until the test ends (so it connects).
func pump(t *testing.T, s *Sub, out chan<- string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); s.Close(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			b, err := s.Next(time.Now().Add(50 * time.Millisecond))
			if err != nil {
				return
			}
			for _, m := range b.Msgs {
				select {
				case out <- string(m.Topic) + "=" + string(m.Body):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
}

func TestPubSendsEachSubscriberItsPrefixes(t *testing.T) {
	p := listen(t)
	aa, all, none := make(chan string, 100), make(chan string, 100), make(chan string, 100)
	pump(t, dial(t, p.Endpoint(), "AA"), aa)
	pump(t, dial(t, p.Endpoint(), ""), all)
	pump(t, dial(t, p.Endpoint(), "ZZZ", "YY"), none)
	subscribed(t, p, 3, 1)
	for _, m := range [][2]string{{"AAPL", "1"}, {"MSFT", "2"}, {"AAX", "3"}, {"A", "4"}, {"AAPL", "5"}} {
		p.Send(msg(m[0], m[1]))
	}
	p.Flush()
	read := func(ch chan string, n int) []string {
		var out []string
		for range n {
			select {
			case m := <-ch:
				out = append(out, m)
			case <-time.After(10 * time.Second):
				t.Fatalf("timed out after %v", out)
			}
		}
		return out
	}
	if got, want := read(aa, 3), []string{"AAPL=1", "AAX=3", "AAPL=5"}; !slices.Equal(got, want) {
		t.Errorf("AA subscriber got %v, want %v", got, want)
	}
	if got, want := read(all, 5), []string{"AAPL=1", "MSFT=2", "AAX=3", "A=4", "AAPL=5"}; !slices.Equal(got, want) {
		t.Errorf("all subscriber got %v, want %v", got, want)
	}
	select {
	case m := <-none:
		t.Errorf("ZZZ/YY subscriber got %q", m)
	case <-time.After(50 * time.Millisecond):
	}
	if s := p.Stats(); s.Messages != 5 || s.Peers != 3 || s.Dropped != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestPubServesZmq4Subscriber(t *testing.T) {
	p := listen(t)
	sub := zmq4.NewSub(context.Background())
	defer sub.Close()
	if err := sub.Dial(p.Endpoint()); err != nil {
		t.Fatal(err)
	}
	if err := sub.SetOption(zmq4.OptionSubscribe, "AA"); err != nil {
		t.Fatal(err)
	}
	subscribed(t, p, 1, 1)
	p.Send(msg("MSFT", "no"))
	p.Send(msg("AAPL", "yes"))
	long := make([]byte, 70_000) // a long frame
	p.Send(port.Message{Topic: []byte("AAX"), Body: long})
	p.Flush()
	for _, want := range []string{"AAPL/3", "AAX/70000"} {
		m, err := sub.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%s/%d", m.Frames[0], len(m.Frames[1])); len(m.Frames) != 2 || got != want {
			t.Fatalf("zmq4 SUB got %q, want %q", got, want)
		}
	}
}

func TestSubReadsZmq4Publisher(t *testing.T) {
	pub := zmq4.NewPub(context.Background())
	defer pub.Close()
	if err := pub.Listen("tcp://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	s := dial(t, "tcp://"+pub.Addr().String(), "T")
	// A zmq4 PUB forgets messages sent before a subscriber's subscription
	// arrives: send until they start to arrive, then check order.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			pub.Send(zmq4.NewMsgFrom([]byte("T"), fmt.Appendf(nil, "%06d", i)))
			pub.Send(zmq4.NewMsgFrom([]byte("U"), []byte("filtered by the PUB")))
			time.Sleep(time.Millisecond)
		}
	}()
	g := collect(t, s, 20)
	if g.events[0] != port.LineUp {
		t.Fatalf("events %v, want line up first", g.events)
	}
	for i := 1; i < len(g.msgs); i++ {
		if g.msgs[i] <= g.msgs[i-1] || g.msgs[i][0] != 'T' {
			t.Fatalf("out of order or unfiltered: %v", g.msgs)
		}
	}
}

func TestSlowSubscriberLosesMessagesAndNobodyElseDoes(t *testing.T) {
	p := listen(t, WithSendHWM(100))
	fast := make(chan string, 100_000)
	pump(t, dial(t, p.Endpoint(), ""), fast)

	// The slow subscriber: a real ZMTP SUB that subscribes and never reads.
	c, err := net.Dial("tcp", p.Endpoint()[len("tcp://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	if err := handshake(c, typeSub); err != nil {
		t.Fatal(err)
	}
	c.Write(appendSubscription(nil, true, nil))
	subscribed(t, p, 2, 1)

	const n = 20_000
	body := make([]byte, 4096)
	slowAddr := c.LocalAddr().String()
	drained := func() bool { // the fast subscriber has its queue empty
		for _, q := range p.Peers() {
			if q.Addr != slowAddr && q.Queued == 0 {
				return true
			}
		}
		return false
	}
	for i := range n {
		p.Send(port.Message{Topic: []byte("T"), Body: body})
		if i%50 == 49 {
			// Pace the sender to the fast reader (half its HWM at a
			// time), as a feed that the network keeps up with; the slow
			// one never reads.
			p.Flush()
			waitFor(t, "the fast subscriber's queue to drain", drained)
		}
	}
	p.Flush()
	waitFor(t, "the fast subscriber to get everything", func() bool { return len(fast) == n })
	var slow PeerStats
	for _, q := range p.Peers() {
		if q.Dropped > 0 {
			slow = q
		}
	}
	if slow.Dropped == 0 || slow.Queued > 100 {
		t.Fatalf("peers %+v: want the slow one dropping, its queue held at the HWM", p.Peers())
	}
	if p.Stats().Dropped != slow.Dropped {
		t.Fatalf("sink dropped %d, slow peer %d", p.Stats().Dropped, slow.Dropped)
	}
	slowQueued := func() (PeerStats, bool) {
		for _, q := range p.Peers() {
			if q.Addr == slow.Addr {
				return q, true
			}
		}
		return PeerStats{}, false
	}
	// The first message on a topic still reaches the slow peer, beyond its
	// HWM: it is where the peer joins that topic.
	p.Send(msg("U", "first on U"))
	p.Send(msg("U", "second on U"))
	if q, _ := slowQueued(); q.Queued != 101 || q.Dropped != slow.Dropped+1 {
		t.Fatalf("after a new topic: %+v, want 101 queued and the second U dropped", q)
	}
	// Control messages queue too, up to a reserve of their own: they tell
	// the peer what it lost.
	for range controlReserve - 1 {
		p.Send(port.Message{Topic: []byte("T"), Body: []byte("heartbeat"), Control: true})
	}
	if q, _ := slowQueued(); q.Queued != 100+controlReserve {
		t.Fatalf("after control messages: %+v, want %d queued", q, 100+controlReserve)
	}
	// Beyond the reserve the peer is hopeless: it is disconnected (it will
	// reconnect and rejoin), and the fast one is untouched.
	p.Send(port.Message{Topic: []byte("T"), Body: []byte("heartbeat"), Control: true})
	waitFor(t, "the slow peer to be disconnected", func() bool { _, ok := slowQueued(); return !ok })
	if len(p.Peers()) != 1 {
		t.Fatalf("peers %+v", p.Peers())
	}
}

func TestHostilePeersAreDisconnected(t *testing.T) {
	p := listen(t)
	good := make(chan string, 10)
	pump(t, dial(t, p.Endpoint(), ""), good)

	addr := p.Endpoint()[len("tcp://"):]
	hostile := [][]byte{
		[]byte("GET / HTTP/1.1\r\n\r\n"), // not ZMTP at all
		append(greeting(), flagCommand|flagLong, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
	}
	for _, h := range hostile {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(h)
		c.Close()
	}
	// After a good handshake, a subscription frame declaring 2^62 bytes.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := handshake(c, typeSub); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte{flagLong, 0x40, 0, 0, 0, 0, 0, 0, 0})
	waitFor(t, "the hostile subscriber to be dropped", func() bool {
		c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		ne, ok := err.(net.Error)
		return err != nil && !(ok && ne.Timeout())
	})
	subscribed(t, p, 1, 1)
	p.Send(msg("T", "still here"))
	p.Flush()
	select {
	case m := <-good:
		if m != "T=still here" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the good subscriber got nothing")
	}
}

func TestIPCEndpoint(t *testing.T) {
	ep := "ipc://" + filepath.Join(t.TempDir(), "feed.sock")
	p, err := Listen(ep)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Endpoint() != ep {
		t.Fatalf("endpoint %q, want %q", p.Endpoint(), ep)
	}
	ch := make(chan string, 1)
	pump(t, dial(t, ep, "X"), ch)
	subscribed(t, p, 1, 1)
	p.Send(msg("X", "over a unix socket"))
	p.Flush()
	if m := <-ch; m != "X=over a unix socket" {
		t.Fatalf("got %q", m)
	}
}

func TestSubReconnectsAndResubscribes(t *testing.T) {
	p := listen(t)
	ep := p.Endpoint()
	s := dial(t, ep, "X")
	done := make(chan got)
	go func() {
		// Keep reading until the message from the second publisher.
		var g got
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			b, err := s.Next(time.Now().Add(20 * time.Millisecond))
			if err != nil {
				break
			}
			for _, e := range b.Events {
				g.events = append(g.events, e.Kind)
			}
			for _, m := range b.Msgs {
				g.msgs = append(g.msgs, string(m.Body))
			}
			if slices.Contains(g.msgs, "second") {
				break
			}
		}
		done <- g
	}()
	subscribed(t, p, 1, 1)
	p.Send(msg("X", "first"))
	p.Flush()
	waitFor(t, "the first message to leave", func() bool { return p.Peers()[0].Queued == 0 })
	p.Close()

	p2, err := Listen(ep) // the same port
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	subscribed(t, p2, 1, 1)
	p2.Send(msg("X", "second"))
	p2.Flush()
	g := <-done
	if !slices.Equal(g.msgs, []string{"first", "second"}) {
		t.Fatalf("messages %v", g.msgs)
	}
	want := []port.LineEventKind{port.LineUp, port.LineDown, port.LineUp}
	if !slices.Equal(g.events, want) {
		t.Fatalf("events %v, want %v", g.events, want)
	}
}

func TestSubDropsAPublisherSendingOversizedMessages(t *testing.T) {
	p := listen(t)
	s, err := Dial(p.Endpoint(), WithMaxMessage(64<<10), WithReconnect(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Subscribe(nil)
	go func() {
		subscribed(t, p, 1, 1)
		p.Send(port.Message{Topic: []byte("T"), Body: make([]byte, 100<<10)})
		p.Flush()
	}()
	var events []port.LineEventKind
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(events, port.LineDown) && time.Now().Before(deadline) {
		b, err := s.Next(time.Now().Add(20 * time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Msgs) > 0 {
			t.Fatal("an oversized message was delivered")
		}
		for _, e := range b.Events {
			events = append(events, e.Kind)
		}
	}
	if !slices.Contains(events, port.LineDown) {
		t.Fatalf("events %v: the connection was not dropped", events)
	}
}

func TestCloseUnblocksNext(t *testing.T) {
	p := listen(t)
	s := dial(t, p.Endpoint(), "")
	errc := make(chan error)
	go func() {
		for {
			if _, err := s.Next(time.Time{}); err != nil {
				errc <- err
				return
			}
		}
	}()
	subscribed(t, p, 1, 1)
	s.Close()
	select {
	case err := <-errc:
		if err != ErrClosed {
			t.Fatalf("Next = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next still blocked after Close")
	}
}
