package zmtp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tickcast/tickcast/port"
)

// A raw ZMTP peer for the tests below: it speaks as a SUB (or a PUB) and
// then does whatever the test wants, as a hostile program would.
func rawSub(t *testing.T, p *Pub, subscribe bool) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Endpoint()[len("tcp://"):])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := handshake(c, typeSub); err != nil {
		t.Fatal(err)
	}
	if subscribe {
		c.Write(appendSubscription(nil, true, nil))
	}
	return c
}

// closedByPeer waits until the other side has closed c.
func closedByPeer(t *testing.T, c net.Conn, what string) {
	t.Helper()
	waitFor(t, what, func() bool {
		c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		_, err := c.Read(make([]byte, 64<<10))
		var ne net.Error
		return err != nil && !(errors.As(err, &ne) && ne.Timeout())
	})
}

// goodSubscriber checks that a normal subscriber still gets a message
// through p.
func goodSubscriber(t *testing.T, p *Pub, got chan string) {
	t.Helper()
	p.Send(msg("T", "still here"))
	p.Flush()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-got:
			if m == "T=still here" {
				return
			}
		case <-deadline:
			t.Fatal("the good subscriber got nothing")
		}
	}
}

// A subscriber that sends PINGs and never reads costs the publisher one
// PONG at a time, counted in its queue; a PING with a context longer than
// ZMTP's 16 bytes is a protocol error. Before: 2.4 GB in 20 s.
func TestPingFloodCostsOnePongAtATime(t *testing.T) {
	p := listen(t)
	good := make(chan string, 100)
	pump(t, dial(t, p.Endpoint(), ""), good)
	c := rawSub(t, p, true)
	c.(*net.TCPConn).SetReadBuffer(4096)
	subscribed(t, p, 2, 1)
	ping := appendCommand(nil, "PING", append([]byte{0, 100}, make([]byte, maxPingContext)...))
	var flood []byte
	for range 1000 {
		flood = append(flood, ping...)
	}
	for range 100 { // 100,000 PINGs
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(flood); err != nil {
			t.Fatalf("the publisher stopped reading PINGs: %v", err)
		}
	}
	if q := p.PubStats().Queued; q > 64<<10 {
		t.Fatalf("%d bytes queued after 100,000 PINGs: want one PONG at a time", q)
	}
	goodSubscriber(t, p, good)

	// A context beyond 16 bytes: disconnected.
	c.Write(appendCommand(nil, "PING", append([]byte{0, 100}, make([]byte, 1000)...)))
	closedByPeer(t, c, "the PING with a 1,000-byte context to cut the peer off")
	if p.PubStats().Cut == 0 {
		t.Fatal("not counted")
	}
}

// A message of endless empty frames is cut at the frame limit, at once,
// whatever its bytes; before, 3 MB of them pinned a core for 20 s.
func TestEndlessEmptyFramesAreAProtocolError(t *testing.T) {
	p := listen(t)
	good := make(chan string, 100)
	pump(t, dial(t, p.Endpoint(), ""), good)
	c := rawSub(t, p, true)
	subscribed(t, p, 2, 1)
	empty := make([]byte, 0, 2<<20)
	for len(empty) < 2<<20 {
		empty = append(empty, flagMore, 0)
	}
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write(empty)
	closedByPeer(t, c, "the endless message to cut the peer off")
	goodSubscriber(t, p, good)
}

// Subscribers that never read stop growing at the total cap (only those
// with more than a fair share queued lose data), while one that keeps up
// loses nothing; when they go, what they held is released.
func TestSlowSubscribersAreBoundedInTotal(t *testing.T) {
	const maxQueued = 4 << 20
	p := listen(t, WithMaxQueued(maxQueued), WithSendBuffer(16<<20), WithSendHWM(1_000_000))
	fast := make(chan string, 100_000)
	pump(t, dial(t, p.Endpoint(), ""), fast)
	var slow []net.Conn
	for range 6 {
		c := rawSub(t, p, true)
		c.(*net.TCPConn).SetReadBuffer(4096)
		slow = append(slow, c)
	}
	subscribed(t, p, 7, 1)
	body := make([]byte, 5000)
	const n = 5000 // 25 MB for each subscriber
	peak := int64(0)
	for i := range n {
		p.Send(port.Message{Topic: []byte("T"), Body: body})
		if i%20 == 19 {
			p.Flush()
			peak = max(peak, p.PubStats().Queued)
			// Pace to the fast reader, as a feed the network keeps up with.
			waitFor(t, "the fast subscriber", func() bool { return len(fast) >= i-50 })
		}
	}
	p.Flush()
	waitFor(t, "the fast subscriber to get everything", func() bool { return len(fast) == n })
	// Each slow one may hold its fair share, and the socket buffers take
	// a little more out of the queues.
	if limit := int64(maxQueued + 7*fairShare + 7*(64<<10)); peak > limit {
		t.Errorf("peak queued %d bytes, want at most %d", peak, limit)
	}
	if p.Stats().Dropped == 0 {
		t.Error("the slow subscribers lost nothing: the cap did not act")
	}
	for _, c := range slow {
		c.Close()
	}
	waitFor(t, "the slow subscribers to go", func() bool { return len(p.Peers()) == 1 })
	waitFor(t, "their memory to be released", func() bool { return p.PubStats().Queued == 0 })
}

// Connections beyond the limit are closed at once (and counted); those that
// never subscribe are closed after the subscribe timeout; neither costs
// Send anything: it goes through the subscribed peers only.
func TestConnectionLimitAndIdleConnections(t *testing.T) {
	p := listen(t, WithMaxPeers(4), WithSubscribeTimeout(300*time.Millisecond))
	good := make(chan string, 100)
	pump(t, dial(t, p.Endpoint(), ""), good)
	subscribed(t, p, 1, 1)
	var idle []net.Conn
	for range 3 {
		idle = append(idle, rawSub(t, p, false))
	}
	waitFor(t, "4 peers", func() bool { return len(p.Peers()) == 4 })
	if n := p.active.Len(); n != 1 {
		t.Fatalf("Send goes through %d peers, want the 1 subscribed", n)
	}
	// The fifth connection: refused at once, before any handshake.
	c, err := net.Dial("tcp", p.Endpoint()[len("tcp://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, greetingSize)); err == nil {
		t.Fatal("a connection over the limit got a greeting")
	}
	if p.PubStats().Refused != 1 {
		t.Fatalf("refused %d, want 1", p.PubStats().Refused)
	}
	for _, c := range idle {
		closedByPeer(t, c, "an idle connection to be closed")
	}
	waitFor(t, "the idle peers to go", func() bool { return len(p.Peers()) == 1 })
	goodSubscriber(t, p, good)
}

// A connection's subscriptions are bounded (10,000 prefixes); beyond, it is
// disconnected. Before: 150,000 SUBSCRIBEs took 164 MB, kept after the
// disconnect.
func TestSubscriptionsPerConnectionAreBounded(t *testing.T) {
	p := listen(t)
	c := rawSub(t, p, false)
	var b []byte
	for i := range DefaultMaxSubscriptions + 1 {
		var prefix [8]byte
		binary.BigEndian.PutUint64(prefix[:], uint64(i))
		b = appendSubscription(b, true, prefix[:])
	}
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	c.Write(b)
	closedByPeer(t, c, "the peer with too many subscriptions to be cut off")
	waitFor(t, "the peer to go", func() bool { return len(p.Peers()) == 0 })
}

// A second publisher on an ipc:// path in use fails, as on a TCP port in
// use, rather than taking over the first one's new subscribers; a socket
// file nobody listens on (a crashed run's) is replaced.
func TestIPCPathInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "feed.sock")
	first, err := Listen("ipc://" + path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen("ipc://" + path); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second Listen = %v, want EADDRINUSE", err)
	}
	first.Close()

	stale := filepath.Join(t.TempDir(), "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // the file stays, with nobody behind it
	p, err := Listen("ipc://" + stale)
	if err != nil {
		t.Fatalf("Listen over a stale socket file: %v", err)
	}
	p.Close()
}

// A publisher that floods PINGs at a subscriber and never reads cannot
// block Next (nor Close): PINGs are answered a few times a second with a
// short deadline, and a publisher that does not take its PONGs is dropped.
// Before: the subscriber's timeout was ignored, 16 s for 8.
func TestSubSurvivesAPingFloodingPublisher(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(4096)
		if handshake(c, typePub) != nil {
			return
		}
		ping := appendCommand(nil, "PING", []byte{0, 100, 'x'})
		var flood []byte
		for range 1000 {
			flood = append(flood, ping...)
		}
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := c.Write(flood); err != nil && !errors.Is(err, syscall.EAGAIN) {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					return
				}
			}
		}
	}()
	s, err := Dial("tcp://"+ln.Addr().String(), WithReconnect(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Subscribe(nil)
	// Next keeps its deadlines: every call returns, by its deadline or
	// with the line down, not seconds later.
	down := false
	for range 50 {
		start := time.Now()
		b, err := s.Next(start.Add(20 * time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Next took %v for a 20ms deadline", d)
		}
		for _, e := range b.Events {
			down = down || e.Kind == 2 // port.LineDown
		}
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked")
	}
	t.Logf("line down seen: %v", down)
}

// A publisher that is not there is visible at the default level (Warn):
// once at the first failure, then at most every 30 s, with the count; and
// its coming back is said too.
func TestAnUnreachableEndpointIsLoggedRateLimited(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens: connections are refused
	var buf lockedBuffer
	s, err := Dial("tcp://"+addr, WithReconnect(10*time.Millisecond),
		WithSubLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitFor(t, "a warning", func() bool { return strings.Contains(buf.String(), "cannot connect") })
	time.Sleep(300 * time.Millisecond) // some 30 more attempts
	if n := strings.Count(buf.String(), "cannot connect"); n != 1 {
		t.Fatalf("%d warnings in 300 ms of refused connections, want 1:\n%s", n, buf.String())
	}
	p, err := Listen("tcp://" + addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer p.Close()
	s.Subscribe(nil)
	waitFor(t, "the reconnection", func() bool {
		return strings.Contains(buf.String(), "connected") && strings.Contains(buf.String(), "after_failed_attempts")
	})
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
