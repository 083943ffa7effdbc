package recovery

// A recovery service faces whoever can reach its port. These tests flood it
// with garbage and hostile requests, over real sockets, while a good client
// goes on asking, and check that the good client's answers stay correct,
// that every bad request was counted, that the history was not touched, and
// that memory came back. Every actor does a bounded number of things, and
// every wait is bounded, so the tests take a few seconds.
//
// The last tests feed the history in hostile orders (a lagging line's late
// messages, duplicates, losses, with eviction all along) and check its
// answers against a model.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/zmtp"
)

// Bytes of ZMTP 3.0 (rfc.zeromq.org/spec/23), enough for a raw peer that
// speaks the handshake and then does what a test wants, as a hostile program
// would. (Package zmtp's own tests have fuller helpers; these are a copy of
// the few bytes needed.)
const (
	zmtpMore    = 0x01
	zmtpLong    = 0x02
	zmtpCommand = 0x04
	zmtpGreet   = 64
)

// zmtpHello returns what a NULL-mechanism peer of socket type typ sends
// first: its greeting and its READY command.
func zmtpHello(typ string) []byte {
	g := make([]byte, zmtpGreet)
	g[0], g[9], g[10], g[11] = 0xff, 0x7f, 3, 0
	copy(g[12:32], "NULL")
	body := []byte("\x05READY\x0bSocket-Type")
	body = binary.BigEndian.AppendUint32(body, uint32(len(typ)))
	body = append(body, typ...)
	return append(append(g, zmtpCommand, byte(len(body))), body...)
}

// zmtpFrame appends a frame.
func zmtpFrame(b []byte, flags byte, body []byte) []byte {
	if len(body) > 255 {
		b = append(b, flags|zmtpLong)
		b = binary.BigEndian.AppendUint64(b, uint64(len(body)))
	} else {
		b = append(b, flags, byte(len(body)))
	}
	return append(b, body...)
}

// zmtpMsg returns the message made of frames.
func zmtpMsg(frames ...[]byte) []byte {
	var b []byte
	for i, f := range frames {
		var flags byte
		if i < len(frames)-1 {
			flags = zmtpMore
		}
		b = zmtpFrame(b, flags, f)
	}
	return b
}

// readZMTPFrame reads one frame.
func readZMTPFrame(c net.Conn) (flags byte, body []byte, err error) {
	var hdr [9]byte
	if _, err := io.ReadFull(c, hdr[:2]); err != nil {
		return 0, nil, err
	}
	size := uint64(hdr[1])
	if hdr[0]&zmtpLong != 0 {
		if _, err := io.ReadFull(c, hdr[2:]); err != nil {
			return 0, nil, err
		}
		size = binary.BigEndian.Uint64(hdr[1:])
	}
	if size > 64<<20 {
		return 0, nil, fmt.Errorf("a frame of %d bytes", size)
	}
	body = make([]byte, size)
	_, err = io.ReadFull(c, body)
	return hdr[0], body, err
}

// readZMTPMsg reads the next message (commands skipped).
func readZMTPMsg(c net.Conn) ([][]byte, error) {
	var out [][]byte
	for {
		flags, body, err := readZMTPFrame(c)
		if err != nil {
			return nil, err
		}
		if flags&zmtpCommand != 0 {
			continue
		}
		out = append(out, body)
		if flags&zmtpMore == 0 {
			return out, nil
		}
	}
}

// dialRaw opens a TCP connection to s (no handshake). It is closed when the
// test ends.
func dialRaw(t *testing.T, s *Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.Endpoint()[len("tcp://"):])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawPeer connects to s as a socket of type typ and runs the handshake.
// Safe to call from any goroutine: it returns errors.
func rawPeer(s *Server, typ string) (net.Conn, error) {
	c, err := net.Dial("tcp", s.Endpoint()[len("tcp://"):])
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(zmtpHello(typ)); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := io.ReadFull(c, make([]byte, zmtpGreet)); err != nil {
		c.Close()
		return nil, fmt.Errorf("the service's greeting: %w", err)
	}
	if flags, _, err := readZMTPFrame(c); err != nil || flags&zmtpCommand == 0 {
		c.Close()
		return nil, fmt.Errorf("the service's READY: %#x %v", flags, err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// closedByPeer reports whether the other side closed c within d.
func closedByPeer(c net.Conn, d time.Duration) bool {
	deadline := time.Now().Add(d)
	buf := make([]byte, 64<<10)
	for time.Now().Before(deadline) {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		_, err := c.Read(buf)
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			return true
		}
	}
	return false
}

// eventually waits until cond holds, or fails the test after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// asker is a client usable from any goroutine of a test (one asker per
// goroutine): it returns errors instead of failing the test.
type asker struct {
	q   *zmtp.Requester
	enc *schema.Encoder
	id  uint64
}

func newAsker(t *testing.T, s *Server) *asker {
	t.Helper()
	q, err := zmtp.DialRequester(s.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return &asker{q: q, enc: schema.NewEncoder(1024)}
}

// ask sends r and returns the reply, its Topic copied, and the bodies of
// the [topic, body] pairs that follow it, checked for shape: the id echoed,
// Count pairs.
func (a *asker) ask(r schema.Request) (schema.Reply, [][]byte, error) {
	a.id++
	r.ID = a.id
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	frames, err := a.q.Request(ctx, a.enc.EncodeRequest(&r))
	if err != nil {
		return schema.Reply{}, nil, err
	}
	var m schema.Message
	if err := m.Decode(frames[0]); err != nil || m.Type != schema.RecoveryReply {
		return schema.Reply{}, nil, fmt.Errorf("reply frame: %v, %v", err, m.Type)
	}
	rep := m.Reply
	rep.Topic = bytes.Clone(rep.Topic)
	if rep.ID != a.id {
		return rep, nil, fmt.Errorf("reply to request %d, want %d", rep.ID, a.id)
	}
	if len(frames) != 1+2*int(rep.Count) {
		return rep, nil, fmt.Errorf("%d frames for a count of %d", len(frames), rep.Count)
	}
	var bodies [][]byte
	for i := 2; i < len(frames); i += 2 {
		bodies = append(bodies, frames[i])
	}
	return rep, bodies, nil
}

// replayAll asks for topic's ticks from..to as a client must: again from
// To+1 after a partial reply. It returns the ticks in the range, checked to
// be every one, in order, with the price the test feed gives them.
func (a *asker) replayAll(topic string, from, to uint64) (replies int, err error) {
	next := from
	var m schema.Message
	for next <= to {
		rep, bodies, err := a.ask(schema.Request{Kind: schema.ReplayRequest, Topic: []byte(topic), From: next, To: to})
		if err != nil {
			return replies, err
		}
		replies++
		for _, body := range bodies {
			if err := m.Decode(body); err != nil || m.Type != schema.Batch {
				return replies, fmt.Errorf("a body that is no batch: %v %v", err, m.Type)
			}
			for i := range m.Len() {
				tk := m.Tick(i)
				if tk.Seq < next || tk.Seq > to {
					continue // a message may hold ticks outside the range
				}
				if tk.Seq != next || tk.Price != int64(tk.Seq)*100 {
					return replies, fmt.Errorf("%s: tick %d (price %d) where %d was due", topic, tk.Seq, tk.Price, next)
				}
				next++
			}
		}
		switch {
		case rep.Status == schema.ReplyOK && next > to:
			return replies, nil
		case rep.Status == schema.ReplyPartial && rep.To+1 == next:
		default:
			return replies, fmt.Errorf("%s %d..%d: %v to %d with %d ticks due from %d", topic, from, to, rep.Status, rep.To, to-next+1, next)
		}
	}
	return replies, nil
}

// What hostileServer holds.
const (
	aaplBatches = 4000
	aaplTicks   = 32 * aaplBatches
	numT        = 2000
)

// hostileServer returns a Server holding one session (42): topic AAPL with
// batches of 32 ticks (1..aaplTicks), and topics T0000...T1999 with two
// ticks each. Stall and idle timeouts are short, so that the tests do not
// wait long for the service to give up on a peer.
func hostileServer(t *testing.T, opts ...ServerOption) *Server {
	t.Helper()
	s := newServer(t, append([]ServerOption{WithRetention(time.Hour, 0),
		WithReplierOptions(zmtp.WithReplierStallTimeout(300*time.Millisecond), zmtp.WithIdleTimeout(5*time.Second))}, opts...)...)
	f := newFeed(42)
	for i := range aaplBatches {
		s.Record([]byte("AAPL"), f.batch("AAPL", 32), time.Now())
		if i < numT {
			topic := fmt.Sprintf("T%04d", i)
			s.Record([]byte(topic), f.batch(topic, 2), time.Now())
		}
	}
	return s
}

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// garbage returns malformed and hostile requests, each as the frames a
// DEALER sends (delimiter first where there is one), and whether the
// service answers it (a message without the delimiter is dropped).
func garbage(rng *rand.Rand) (msgs [][]byte, answered int) {
	enc := schema.NewEncoder(256)
	good := bytes.Clone(enc.EncodeRequest(&schema.Request{Kind: schema.ReplayRequest, ID: 1, Topic: []byte("AAPL"), From: 1, To: 10}))
	flipped := bytes.Clone(good)
	for range 3 {
		flipped[rng.IntN(len(flipped))] ^= byte(1 + rng.IntN(255))
	}
	noise := make([]byte, 1+rng.IntN(2000))
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	reply := bytes.Clone(enc.EncodeReply(&schema.Reply{Status: schema.ReplyOK, ID: 7}))
	unknownKind := bytes.Clone(enc.EncodeRequest(&schema.Request{Kind: 9, ID: 2}))
	fromZero := bytes.Clone(enc.EncodeRequest(&schema.Request{Kind: schema.ReplayRequest, ID: 3, Topic: []byte("AAPL"), To: 5}))
	tooMany := make([][]byte, schema.MaxPrefixes+1)
	for i := range tooMany {
		tooMany[i] = []byte{'P', byte(i), byte(i >> 8)}
	}
	overPrefixes := bytes.Clone(enc.EncodeRequest(&schema.Request{Kind: schema.SnapshotRequest, ID: 4, Prefixes: tooMany}))
	answeredMsgs := [][]byte{
		zmtpMsg(nil, noise),                  // not a Message
		zmtpMsg(nil, good[:len(good)/2]),     // truncated
		zmtpMsg(nil, flipped),                // corrupted: any answer, but an answer
		zmtpMsg(nil, good, good),             // two frames
		zmtpMsg(nil, reply),                  // a Message, but no request
		zmtpMsg(nil, unknownKind),            // an unknown kind
		zmtpMsg(nil, fromZero),               // a range from 0
		zmtpMsg(nil, nil),                    // an empty request frame
		zmtpMsg(nil, overPrefixes),           // 1,025 prefixes
		zmtpMsg([]byte("route"), nil, noise), // an envelope, as through a proxy
	}
	dropped := [][]byte{
		zmtpMsg(good),        // a DEALER that forgot the delimiter
		zmtpMsg(noise, good), // no delimiter either
		zmtpMsg(nil),         // a delimiter and nothing after it
		zmtpFrame(nil, zmtpCommand, []byte("\x05HELLO")), // an unknown command
	}
	msgs = append(append(msgs, answeredMsgs...), dropped...)
	rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	return msgs, len(answeredMsgs)
}

// A flood of garbage and hostile requests, from many connections at once,
// leaves the service answering a good client correctly: malformed messages
// are dropped or answered BadRequest, requests for huge ranges get bounded
// replies, snapshots of 1,024 prefixes are paged, unknown topics and
// sessions are answered with what is held, peers that break the protocol
// or never read are cut off; all of it counted, the history untouched, and
// the memory back once they are gone.
func TestAFloodOfHostileRequestsLeavesGoodClientsServed(t *testing.T) {
	const snapTopics = 500
	s := hostileServer(t, WithReplyLimits(DefaultReplyMessages, DefaultReplyBytes, snapTopics))
	good := newAsker(t, s)
	if _, err := good.replayAll("AAPL", 1, 100); err != nil {
		t.Fatal(err)
	}
	before := s.ServerStats()
	heapBefore := heapInUse()

	var wg sync.WaitGroup
	done := make(chan struct{})
	var hostile sync.WaitGroup

	// The good client: replays of random ranges, until the flood is over,
	// every answer checked tick by tick.
	goodReplays := 0
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-done:
				if goodReplays >= 20 {
					return
				}
			default:
			}
			from := 1 + rng.Uint64N(aaplTicks-1)
			to := min(from+rng.Uint64N(3000), aaplTicks)
			if _, err := good.replayAll("AAPL", from, to); err != nil {
				t.Errorf("the good client, during the flood: %v", err)
				return
			}
			goodReplays++
		}
	})

	// Garbage on 16 DEALER connections, 25 rounds each: every message with
	// a delimiter and a request frame gets an answer, a RecoveryReply, the
	// rest is dropped and counted.
	const garbageConns, rounds = 16, 25
	answeredPerConn := 0
	for i := range garbageConns {
		rng := rand.New(rand.NewPCG(uint64(i), 99))
		var flood []byte
		n := 0
		for range rounds {
			msgs, answered := garbage(rng)
			for _, m := range msgs {
				flood = append(flood, m...)
			}
			n += answered
		}
		answeredPerConn = n
		hostile.Go(func() {
			c, err := rawPeer(s, "DEALER")
			if err != nil {
				t.Errorf("garbage connection %d: %v", i, err)
				return
			}
			var writer sync.WaitGroup
			defer writer.Wait()
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			writer.Go(func() { c.Write(flood) }) // the replies are read meanwhile
			var m schema.Message
			for k := range n {
				frames, err := readZMTPMsg(c)
				if err != nil {
					t.Errorf("garbage connection %d, reply %d of %d: %v", i, k, n, err)
					return
				}
				at := 1 // after the delimiter, or the routing frame and the delimiter
				if len(frames) > 0 && len(frames[0]) != 0 {
					at = 2
				}
				if len(frames) <= at || len(frames[at-1]) != 0 {
					t.Errorf("garbage connection %d: a reply of %d frames", i, len(frames))
					return
				}
				if err := m.Decode(frames[at]); err != nil || m.Type != schema.RecoveryReply {
					t.Errorf("garbage connection %d: an answer that is no reply: %v %v", i, err, m.Type)
					return
				}
			}
		})
	}

	// Peers that break the protocol: bytes that are no ZMTP, a frame
	// declared beyond the request bound, endless frames. Each is cut off.
	const breakers = 8
	for i := range breakers {
		hostile.Go(func() {
			var c net.Conn
			var err error
			var msg []byte
			switch i % 3 {
			case 0: // no handshake at all
				c, err = net.Dial("tcp", s.Endpoint()[len("tcp://"):])
				msg = bytes.Repeat([]byte("GET / HTTP/1.1\r\n"), 100)
			case 1:
				c, err = rawPeer(s, "REQ")
				msg = binary.BigEndian.AppendUint64([]byte{zmtpLong | zmtpMore}, 1<<40)
			case 2:
				c, err = rawPeer(s, "REQ")
				msg = bytes.Repeat([]byte{zmtpMore, 0}, 1000)
			}
			if err != nil {
				t.Errorf("breaker %d: %v", i, err)
				return
			}
			defer c.Close()
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			c.Write(msg)
			if !closedByPeer(c, 10*time.Second) {
				t.Errorf("breaker %d was not cut off", i)
			}
		})
	}

	// Clients that ask for huge ranges and never read the replies: each
	// costs one reply in flight, until the stall timeout cuts it off.
	const nonReaders = 4
	hugeReq := schema.NewEncoder(256).EncodeRequest(&schema.Request{Kind: schema.ReplayRequest, ID: 1,
		Topic: []byte("AAPL"), From: 1, To: math.MaxUint64})
	var pipelined []byte
	for range 64 {
		pipelined = append(pipelined, zmtpMsg(nil, hugeReq)...)
	}
	for i := range nonReaders {
		hostile.Go(func() {
			c, err := rawPeer(s, "DEALER")
			if err != nil {
				t.Errorf("non-reader %d: %v", i, err)
				return
			}
			defer c.Close()
			c.(*net.TCPConn).SetReadBuffer(4096)
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			c.Write(pipelined)
			// Never read, until the service has given up on every peer
			// it should (reading earlier would unblock its writes): then
			// drain what the socket buffers hold, to see the end.
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if s.ServerStats().Replier.Cut >= breakers-3+nonReaders {
					break
				}
			}
			if !closedByPeer(c, 10*time.Second) {
				t.Errorf("non-reader %d was not cut off", i)
			}
		})
	}

	// Well-formed but hostile requests, over ordinary REQ connections.
	a1, a2, a3 := newAsker(t, s), newAsker(t, s), newAsker(t, s)
	hostile.Go(func() { // huge ranges: bounded replies
		a := a1
		for range 10 {
			r, bodies, err := a.ask(schema.Request{Kind: schema.ReplayRequest, Topic: []byte("AAPL"), From: 1, To: math.MaxUint64})
			if err != nil {
				t.Errorf("huge range: %v", err)
				return
			}
			size := 0
			for _, b := range bodies {
				size += len(b) + len("AAPL")
			}
			if r.Status != schema.ReplyPartial || r.Count != DefaultReplyMessages || r.To != 32*DefaultReplyMessages || size > DefaultReplyBytes {
				t.Errorf("huge range: %v to %d, %d messages, %d bytes", r.Status, r.To, r.Count, size)
				return
			}
			r, _, err = a.ask(schema.Request{Kind: schema.ReplayRequest, Topic: []byte("AAPL"), From: math.MaxUint64 - 1, To: math.MaxUint64})
			if err != nil || r.Status != schema.ReplyNotAvailable || r.Count != 0 || r.HeldFrom != 0 {
				t.Errorf("a range beyond the end: %+v %v", r, err)
				return
			}
		}
	})
	hostile.Go(func() { // snapshots of 1,024 prefixes: paged after the cursor
		a := a2
		prefixes := make([][]byte, schema.MaxPrefixes)
		for i := range prefixes {
			prefixes[i] = fmt.Appendf(nil, "T%04d", i)
		}
		nothing := make([][]byte, schema.MaxPrefixes)
		for i := range nothing {
			nothing[i] = fmt.Appendf(nil, "Z%04d", i)
		}
		for range 5 {
			var cursor []byte
			var got []string
			for page := 0; ; page++ {
				r, bodies, err := a.ask(schema.Request{Kind: schema.SnapshotRequest, Prefixes: prefixes, Topic: cursor})
				if err != nil || r.Session != 42 || r.Count > snapTopics || page > 3 {
					t.Errorf("snapshot page %d: %+v %v", page, r, err)
					return
				}
				var m schema.Message
				for _, b := range bodies {
					if err := m.Decode(b); err != nil || m.Type != schema.Snapshot || m.Len() != 1 || m.Tick(0).Seq != 2 {
						t.Errorf("snapshot page %d: a body %v %v", page, err, m.Type)
						return
					}
				}
				got = append(got, fmt.Sprint(r.Count))
				if r.Status == schema.ReplyOK {
					break
				}
				if r.Status != schema.ReplyPartial {
					t.Errorf("snapshot page %d: %v", page, r.Status)
					return
				}
				cursor = r.Topic
			}
			if fmt.Sprint(got) != "[500 500 24]" {
				t.Errorf("snapshot of 1,024 prefixes in pages of %v topics, want [500 500 24]", got)
				return
			}
			r, _, err := a.ask(schema.Request{Kind: schema.SnapshotRequest, Prefixes: nothing})
			if err != nil || r.Status != schema.ReplyOK || r.Count != 0 {
				t.Errorf("a snapshot that matches nothing: %+v %v", r, err)
				return
			}
		}
	})
	hostile.Go(func() { // unknown topics and sessions: answered with what is held
		a := a3
		for i := range 50 {
			r, _, err := a.ask(schema.Request{Kind: schema.ReplayRequest, Topic: fmt.Appendf(nil, "NOPE%d", i), From: 1, To: 10})
			if err != nil || r.Status != schema.ReplyNotAvailable || r.Count != 0 || r.HeldFrom != 0 || r.HeldTo != 0 || r.To != 0 {
				t.Errorf("an unknown topic: %+v %v", r, err)
				return
			}
			r, _, err = a.ask(schema.Request{Kind: schema.ReplayRequest, Session: uint64(1000 + i), Topic: []byte("AAPL"), From: 1, To: 10})
			if err != nil || r.Status != schema.ReplyUnknownSession || r.Count != 0 || r.Session != 42 {
				t.Errorf("an unknown session: %+v %v", r, err)
				return
			}
			r, _, err = a.ask(schema.Request{Kind: schema.SnapshotRequest, Session: uint64(1000 + i)})
			if err != nil || r.Status != schema.ReplyUnknownSession || r.Count != 0 || r.Session != 42 {
				t.Errorf("a snapshot of an unknown session: %+v %v", r, err)
				return
			}
		}
	})

	hostile.Wait()
	close(done)
	wg.Wait()
	if t.Failed() {
		return
	}
	eventually(t, "the hostile peers to be gone", func() bool { return s.ServerStats().Replier.Peers <= 4 })

	// Still served, after as during.
	if _, err := good.replayAll("AAPL", 1, aaplTicks); err != nil {
		t.Fatalf("the good client, after the flood: %v", err)
	}
	st := s.ServerStats()
	t.Logf("good client: %d replays during the flood; service: %+v", goodReplays, st)
	if st.History != before.History {
		t.Errorf("the history changed:\n%+v\n%+v", before.History, st.History)
	}
	rep := st.Replier
	if want := uint64(garbageConns * rounds * 4); rep.Malformed < want {
		t.Errorf("%d malformed messages counted, want at least %d", rep.Malformed, want)
	}
	// Breakers 0, 3, 6 fail the handshake; the others, and the
	// non-readers, are cut off.
	if rep.Cut != breakers-3+nonReaders || rep.HandshakeErrors != 3 {
		t.Errorf("%d peers cut off, %d handshake errors: want %d and 3", rep.Cut, rep.HandshakeErrors, breakers-3+nonReaders)
	}
	// Every garbage message answered was a bad request, but for the
	// corrupted ones, which may happen to decode.
	if bad := st.BadRequests - before.BadRequests; bad < uint64(garbageConns*(answeredPerConn-rounds)) {
		t.Errorf("%d bad requests counted, want at least %d", bad, garbageConns*(answeredPerConn-rounds))
	}
	if st.NotAvailable-before.NotAvailable < 150 {
		t.Errorf("%d not available, want at least 150", st.NotAvailable-before.NotAvailable)
	}
	// Memory: what the flood made the service hold is released. The
	// bound is generous (the heap moves with the test's own garbage); a
	// leak of the replies held for the non-readers alone would be ~6 MB
	// each, of the garbage connections' buffers more.
	if heapAfter := heapInUse(); heapAfter > heapBefore+32<<20 {
		t.Errorf("live heap %d MB after the flood, %d MB before", heapAfter>>20, heapBefore>>20)
	}
}

// Connections beyond the Replier's bound are refused at once and counted;
// a client already connected is served throughout, and once the flood is
// gone a new client gets in.
func TestAConnectionFloodLeavesAConnectedClientServed(t *testing.T) {
	const maxPeers = 16
	s := hostileServer(t, WithReplierOptions(zmtp.WithReplierMaxPeers(maxPeers)))
	good := newAsker(t, s)
	if _, err := good.replayAll("AAPL", 1, 10); err != nil {
		t.Fatal(err)
	}
	const flood = 64
	var conns []net.Conn
	for range flood {
		conns = append(conns, dialRaw(t, s)) // never says a word
	}
	eventually(t, "the connections over the bound to be refused", func() bool {
		return s.ServerStats().Replier.Refused >= flood-(maxPeers-1)
	})
	for i := range 20 {
		from := uint64(1 + 97*i)
		if _, err := good.replayAll("AAPL", from, from+500); err != nil {
			t.Fatalf("the connected client, with every place taken: %v", err)
		}
	}
	if st := s.ServerStats().Replier; st.Refused != flood-(maxPeers-1) || st.Peers != 1 {
		t.Fatalf("stats %+v: want %d refused, 1 peer past the handshake", st, flood-(maxPeers-1))
	}
	for _, c := range conns {
		c.Close()
	}
	eventually(t, "the places to be freed", func() bool { return s.ServerStats().Replier.HandshakeErrors == maxPeers-1 })
	if _, err := newAsker(t, s).replayAll("AAPL", 1, 10); err != nil {
		t.Fatalf("a new client after the flood: %v", err)
	}
}

// A lagging line's message that comes after later ones of its topic (line A
// lost m2, line B brings it after m3) is indexed before them; once the
// messages around it are evicted, the service answers for what it holds.
// Before, the index kept m3's evicted entry behind m2 and the next replay
// of the topic read the entry at index -1: a panic in the Handler, which
// ends the process (tickcast recovery, or pub --recovery).
func TestALateMessageThenEvictionIsAnsweredCorrectly(t *testing.T) {
	f := newFeed(42)
	m1, m2, m3, m4 := f.batch("AAPL", 2), f.batch("AAPL", 2), f.batch("AAPL", 2), f.batch("AAPL", 2)
	s := newServer(t, WithRetention(time.Hour, int64(2*(len("AAPL")+len(m1)))))
	for _, m := range [][]byte{m1, m3, m2, m4} { // each beyond the second evicts the oldest held
		s.Record([]byte("AAPL"), m, time.Now())
	}
	a := newAsker(t, s)
	r, bodies, err := a.ask(schema.Request{Kind: schema.ReplayRequest, Topic: []byte("AAPL"), From: 1, To: 8})
	// Ticks 1-2 (m1) and 5-6 (m3) are gone; 3-4 (m2) and 7-8 (m4) held.
	if err != nil || r.Status != schema.ReplyNotAvailable || r.To != 0 || r.HeldFrom != 3 || r.HeldTo != 8 || len(bodies) != 0 {
		t.Fatalf("%+v %v", r, err)
	}
	r, bodies, err = a.ask(schema.Request{Kind: schema.ReplayRequest, Topic: []byte("AAPL"), From: 3, To: 8})
	if err != nil || r.Status != schema.ReplyNotAvailable || r.To != 4 || r.HeldFrom != 7 || r.HeldTo != 8 || len(bodies) != 1 {
		t.Fatalf("%+v %v", r, err)
	}
	// A duplicate of m4 (the other line) is found among what is held.
	s.Record([]byte("AAPL"), m4, time.Now())
	if st := s.ServerStats().History; st.Duplicates != 1 || st.Messages != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// modelMsg is a message the model of a History holds.
type modelMsg struct {
	topic       string
	first, last uint64
	size        int
}

// History.Replay answers as a plain model does, whatever the order lines
// bring the messages in: late (two swapped), twice (A and B), or never,
// with the byte bound evicting all along.
func TestReplayMatchesAModelWhateverTheOrderOfArrival(t *testing.T) {
	topics := []string{"A", "B", "C"}
	for seed := range uint64(100) {
		rng := rand.New(rand.NewPCG(seed, 1))
		f := newFeed(7)
		type published struct {
			topic       string
			body        []byte
			first, last uint64
		}
		var all []published
		for range 200 {
			topic, n := topics[rng.IntN(len(topics))], 1+rng.IntN(4)
			first := f.seq[topic] + 1
			all = append(all, published{topic, f.batch(topic, n), first, first + uint64(n) - 1})
		}
		var arrivals []published
		for i := 0; i < len(all); i++ {
			switch r := rng.IntN(10); {
			case r == 0 && i+1 < len(all):
				arrivals = append(arrivals, all[i+1], all[i])
				i++
			case r == 1:
				arrivals = append(arrivals, all[i], all[i])
			case r == 2: // lost on every line
			default:
				arrivals = append(arrivals, all[i])
			}
		}
		maxBytes := int64(300 + rng.IntN(3000))
		h := NewHistory(time.Hour, maxBytes, 0)
		var held []modelMsg // oldest first
		var size int64
		for _, p := range arrivals {
			h.Add([]byte(p.topic), p.body, t0)
			dup := false
			for _, m := range held {
				dup = dup || m.topic == p.topic && m.first <= p.last && p.first <= m.last
			}
			if !dup {
				held = append(held, modelMsg{p.topic, p.first, p.last, len(p.topic) + len(p.body)})
				size += int64(held[len(held)-1].size)
				for size > maxBytes && len(held) > 0 {
					size -= int64(held[0].size)
					held = held[1:]
				}
			}
			topic := topics[rng.IntN(len(topics))]
			from := 1 + rng.Uint64N(f.seq[topic]+2)
			to := from + rng.Uint64N(20)
			res, msgs := h.Replay([]byte(topic), from, to, noLimit, t0, nil)
			want, wantMsgs := modelReplay(held, topic, from, to)
			if got := seqs(t, msgs); res != want || got != wantMsgs {
				t.Fatalf("seed %d: replay %s %d..%d: %+v %q, want %+v %q", seed, topic, from, to, res, got, want, wantMsgs)
			}
		}
	}
}

// modelReplay is History.Replay without limits, on the model.
func modelReplay(held []modelMsg, topic string, from, to uint64) (ReplayResult, string) {
	var mine []modelMsg
	for _, m := range held {
		if m.topic == topic {
			mine = append(mine, m)
		}
	}
	slices.SortFunc(mine, func(a, b modelMsg) int { return cmp.Compare(a.first, b.first) })
	res := ReplayResult{Status: schema.ReplyNotAvailable}
	var parts []string
	i, next := 0, from
	for i < len(mine) && mine[i].last < from {
		i++
	}
	for ; i < len(mine) && mine[i].first <= next; i++ {
		parts = append(parts, fmt.Sprintf("%s:%d-%d", topic, mine[i].first, mine[i].last))
		next = mine[i].last + 1
		if mine[i].last >= to {
			return ReplayResult{Status: schema.ReplyOK, To: mine[i].last}, strings.Join(parts, " ")
		}
	}
	res.To = next - 1
	if i < len(mine) {
		res.HeldFrom = mine[i].first
	}
	if len(mine) > 0 {
		res.HeldTo = mine[len(mine)-1].last
	}
	return res, strings.Join(parts, " ")
}
