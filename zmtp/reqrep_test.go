package zmtp

// Specifications of the Replier and the Requester. Waits are on what the
// other side reports (a reply, a closed connection, Stats), each bounded by
// a safety net that fails the test rather than hanging it. All traffic stays
// on 127.0.0.1 or a unix socket.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// echo replies with the request's frames.
func echo(req, reply [][]byte) [][]byte { return append(reply, req...) }

func replier(t *testing.T, h Handler, opts ...ReplierOption) *Replier {
	t.Helper()
	r, err := ListenReplier("tcp://127.0.0.1:0", h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func requester(t *testing.T, endpoint string, opts ...RequesterOption) *Requester {
	t.Helper()
	q, err := DialRequester(endpoint, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// request sends frames under the safety net and returns the reply as
// strings.
func request(t *testing.T, q *Requester, frames ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	var req [][]byte
	for _, f := range frames {
		req = append(req, []byte(f))
	}
	reply, err := q.Request(ctx, req...)
	if err != nil {
		t.Fatalf("Request(%q) = %v", frames, err)
	}
	return strs(reply)
}

func strs(frames [][]byte) []string {
	out := make([]string, 0, len(frames))
	for _, f := range frames {
		out = append(out, string(f))
	}
	return out
}

// rawPeer connects to endpoint and runs the handshake as a socket of type
// typ: a ZMTP peer that then does what the test wants, as a buggy or
// hostile program would.
func rawPeer(t *testing.T, endpoint string, typ socketType) net.Conn {
	t.Helper()
	network, addr, err := parseEndpoint(endpoint, false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := handshake(c, typ); err != nil {
		t.Fatal(err)
	}
	return c
}

// wire returns the message made of frames.
func wire(frames ...string) []byte {
	var b []byte
	for i, f := range frames {
		var flags byte
		if i < len(frames)-1 {
			flags = flagMore
		}
		b = appendFrame(b, flags, []byte(f))
	}
	return b
}

// readFrame reads one frame from c, failing the test after safety.
func readFrame(t *testing.T, c net.Conn) (flags byte, body []byte) {
	t.Helper()
	flags, body, err := readFrameErr(c)
	if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	return flags, body
}

// readMessage reads the next message from c (commands skipped) as strings,
// failing the test after safety.
func readMessage(t *testing.T, c net.Conn) []string {
	t.Helper()
	m, err := readMessageErr(c)
	if err != nil {
		t.Fatalf("reading a message: %v", err)
	}
	return m
}

// readFrameErr reads one frame from c, within safety.
func readFrameErr(c net.Conn) (flags byte, body []byte, err error) {
	c.SetReadDeadline(time.Now().Add(safety))
	var hdr [frameHeaderLong]byte
	if _, err := io.ReadFull(c, hdr[:frameHeaderShort]); err != nil {
		return 0, nil, err
	}
	size := uint64(hdr[1])
	if hdr[0]&flagLong != 0 {
		if _, err := io.ReadFull(c, hdr[frameHeaderShort:]); err != nil {
			return 0, nil, err
		}
		size = binary.BigEndian.Uint64(hdr[1:])
	}
	if size > 1<<30 {
		return 0, nil, fmt.Errorf("a frame of %d bytes", size)
	}
	body = make([]byte, size)
	if _, err := io.ReadFull(c, body); err != nil {
		return 0, nil, err
	}
	return hdr[0], body, nil
}

// readMessageErr reads the next message from c (commands skipped), within
// safety a frame.
func readMessageErr(c net.Conn) ([]string, error) {
	var out []string
	for {
		flags, body, err := readFrameErr(c)
		if err != nil {
			return nil, err
		}
		if flags&flagCommand != 0 {
			continue
		}
		out = append(out, string(body))
		if flags&flagMore == 0 {
			return out, nil
		}
	}
}

// fakeREP is a REP server following a script: it accepts one connection on
// 127.0.0.1, runs the handshake, then serve. It returns the endpoint. When
// the test ends the listener and the connection are closed, and the script
// waited for.
func fakeREP(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		conns <- c
		if handshake(c, typeRep) == nil {
			serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		select {
		case c := <-conns:
			c.Close()
		case <-done:
		}
		<-done
	})
	return "tcp://" + ln.Addr().String()
}

// replied waits until the Replier has counted n replies written (a client
// can have a reply before its writer has counted it).
func replied(t *testing.T, r *Replier, n uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d replies", n), func() bool { return r.Stats().Replies >= n })
}

// connOf returns the Requester's current connection.
func connOf(q *Requester) *reqConn {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.conn
}

// A Requester and a Replier talk over tcp:// and ipc://: multi-frame
// requests and replies, empty frames, frames long enough for the long
// header and for writev, and requests of no frame, which go as one empty
// frame (ZeroMQ has no message of no frame), as do empty replies.
func TestRequestReplyRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 4<<10) // 64 KiB, written from where it is
	handler := func(req, reply [][]byte) [][]byte {
		switch {
		case len(req) == 1 && string(req[0]) == "nothing":
			return reply
		case len(req) == 1 && string(req[0]) == "big":
			return append(reply, []byte("head"), big, []byte("mid"), big, []byte("tail"))
		}
		reply = append(reply, []byte("re"))
		return append(reply, req...)
	}
	for _, tr := range []struct{ name, endpoint string }{
		{"tcp", "tcp://127.0.0.1:0"},
		{"ipc", "ipc://" + filepath.Join(t.TempDir(), "rep.sock")},
	} {
		t.Run(tr.name, func(t *testing.T) {
			r, err := ListenReplier(tr.endpoint, handler)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			q := requester(t, r.Endpoint())
			long := string(bytes.Repeat([]byte("x"), 300))
			for _, tc := range []struct {
				req  []string
				want []string
			}{
				{[]string{"hello"}, []string{"re", "hello"}},
				{[]string{"a", "", "c"}, []string{"re", "a", "", "c"}},
				{[]string{long, "short"}, []string{"re", long, "short"}},
				{nil, []string{"re", ""}},
				{[]string{"nothing"}, []string{""}},
				{[]string{"big"}, []string{"head", string(big), "mid", string(big), "tail"}},
			} {
				if got := request(t, q, tc.req...); !slices.Equal(got, tc.want) {
					t.Fatalf("Request(%.20q) = %.20q, want %.20q", tc.req, got, tc.want)
				}
			}
			replied(t, r, 6)
			st := r.Stats()
			if st.Requests != 6 || st.Replies != 6 || st.Peers != 1 || st.Malformed != 0 || st.Cut != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// The Handler sees the request's frames only: whatever the envelope (a
// REQ's delimiter, or routing frames before it, as proxies add), the reply
// goes back with that envelope, byte for byte, on that connection.
func TestHandlerSeesFramesWithoutTheEnvelope(t *testing.T) {
	seen := make(chan []string, 10)
	r := replier(t, func(req, reply [][]byte) [][]byte {
		seen <- strs(req)
		return append(reply, []byte("ok"), req[len(req)-1])
	})
	c := rawPeer(t, r.Endpoint(), typeDealer)
	for _, tc := range []struct {
		msg      []string
		req      []string
		envelope []string
	}{
		{[]string{"", "q"}, []string{"q"}, []string{""}},
		{[]string{"", "q1", "q2", ""}, []string{"q1", "q2", ""}, []string{""}},
		{[]string{"id-1", "\x00\x01", "", "q"}, []string{"q"}, []string{"id-1", "\x00\x01", ""}},
	} {
		c.Write(wire(tc.msg...))
		got := readMessage(t, c)
		if req := <-seen; !slices.Equal(req, tc.req) {
			t.Fatalf("sent %q: the Handler saw %q, want %q", tc.msg, req, tc.req)
		}
		want := append(slices.Clone(tc.envelope), "ok", tc.req[len(tc.req)-1])
		if !slices.Equal(got, want) {
			t.Fatalf("sent %q: reply %q, want %q", tc.msg, got, want)
		}
	}
}

// Requests from several goroutines on one Requester take turns, and
// several Requesters are served at once: each gets its own reply.
func TestConcurrentRequests(t *testing.T) {
	var inHandler, most atomic.Int32
	r := replier(t, func(req, reply [][]byte) [][]byte {
		n := inHandler.Add(1)
		defer inHandler.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		return append(reply, req...)
	})
	const requesters, goroutines, each = 3, 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, requesters*goroutines)
	for i := range requesters {
		q := requester(t, r.Endpoint())
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), safety)
				defer cancel()
				for k := range each {
					want := fmt.Sprintf("%d/%d/%d", i, g, k)
					reply, err := q.Request(ctx, []byte(want), []byte("x"))
					if err != nil {
						errs <- err
						return
					}
					if len(reply) != 2 || string(reply[0]) != want {
						errs <- fmt.Errorf("request %s: reply %q", want, reply)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	replied(t, r, requesters*goroutines*each)
	if st := r.Stats(); st.Requests != requesters*goroutines*each || st.Replies != st.Requests || st.Peers != requesters {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("at most %d Handler calls at once", most.Load())
}

// A message that is no request is dropped and counted, as libzmq's REP
// drops it, and the connection stays: no delimiter (a DEALER that forgot
// it), nothing after the delimiter, too many frames after it or before it,
// an unknown command. SUBSCRIBE and CANCEL are ignored, uncounted.
func TestMalformedRequestsAreDroppedAndCounted(t *testing.T) {
	var calls atomic.Int32
	r := replier(t, func(req, reply [][]byte) [][]byte {
		calls.Add(1)
		return append(reply, req...)
	})
	c := rawPeer(t, r.Endpoint(), typeDealer)
	many := func(n int) []string { return slices.Repeat([]string{"f"}, n) }
	malformed := [][]byte{
		wire("no delimiter"),
		wire("id", "still none"),
		wire(""),
		wire(append([]string{""}, many(maxRequestFrames+1)...)...),
		wire(append(many(maxEnvelopeFrames), "", "q")...),
		appendCommand(nil, "HELLO", nil),
	}
	for _, m := range malformed {
		c.Write(m)
	}
	c.Write(appendCommand(nil, "SUBSCRIBE", []byte("x")))
	c.Write(appendCommand(nil, "CANCEL", []byte("x")))
	// The largest request allowed, then an ordinary one: both answered.
	c.Write(wire(append([]string{""}, many(maxRequestFrames)...)...))
	if got := readMessage(t, c); len(got) != 1+maxRequestFrames {
		t.Fatalf("reply of %d frames", len(got))
	}
	c.Write(wire("", "good"))
	if got := readMessage(t, c); !slices.Equal(got, []string{"", "good"}) {
		t.Fatalf("reply %q", got)
	}
	if st := r.Stats(); st.Malformed != uint64(len(malformed)) || st.Requests != 2 || st.Cut != 0 || st.Peers != 1 {
		t.Fatalf("stats %+v: want %d malformed, 2 requests", st, len(malformed))
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("the Handler was called %d times", n)
	}
}

// A request beyond WithMaxRequest is refused from the frame header that
// declares it, and its peer cut off, as is one of more frames than a
// request and its envelope may have; another client goes on being served.
func TestOversizedRequestsCutThePeerOff(t *testing.T) {
	r := replier(t, echo, WithMaxRequest(1024))
	q := requester(t, r.Endpoint())
	request(t, q, "before")
	for i, tc := range []struct {
		name string
		msg  []byte
	}{
		{"a frame declared beyond the limit", binary.BigEndian.AppendUint64([]byte{flagLong | flagMore}, 1<<40)},
		{"frames beyond the limit together", wire("", string(make([]byte, 600)), string(make([]byte, 600)))},
		{"too many frames", wire(slices.Repeat([]string{""}, maxEnvelopeFrames+maxRequestFrames+1)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawPeer(t, r.Endpoint(), typeReq)
			c.Write(tc.msg)
			closedByPeer(t, c, "the peer to be cut off")
			if st := r.Stats(); st.Cut != uint64(i+1) {
				t.Fatalf("stats %+v: want %d cut", st, i+1)
			}
			if got := request(t, q, "still", "here"); !slices.Equal(got, []string{"still", "here"}) {
				t.Fatalf("the other client got %q", got)
			}
		})
	}
	if got := request(t, q, string(make([]byte, 1000))); len(got) != 1 || len(got[0]) != 1000 {
		t.Fatal("a request just under the limit was not answered")
	}
}

// A client that sends requests and never reads the replies fills the
// socket buffers; once a write of its reply has stalled for the stall
// timeout, it is cut off. Meanwhile, and after, others are served.
func TestAClientThatDoesNotReadIsCutOffAfterTheStallTimeout(t *testing.T) {
	chunk := make([]byte, 1<<20)
	big := slices.Repeat([][]byte{chunk}, 32) // 32 MiB, one buffer
	r := replier(t, func(req, reply [][]byte) [][]byte {
		if string(req[0]) == "big" {
			return append(reply, big...)
		}
		return append(reply, req...)
	}, WithReplierStallTimeout(200*time.Millisecond))
	q := requester(t, r.Endpoint())
	c := rawPeer(t, r.Endpoint(), typeReq)
	c.(*net.TCPConn).SetReadBuffer(4096)
	c.Write(wire("", "big"))
	c.Write(wire("", "big"))
	waitFor(t, "the request to reach the Handler", func() bool { return r.Stats().Requests == 1 })
	for i := range 20 {
		if got := request(t, q, "x", fmt.Sprint(i)); !slices.Equal(got, []string{"x", fmt.Sprint(i)}) {
			t.Fatalf("the other client got %q", got)
		}
	}
	waitFor(t, "the client that does not read to be cut off", func() bool { return r.Stats().Cut == 1 })
	waitFor(t, "its connection to be closed", func() bool { return r.Stats().Peers == 1 })
	replied(t, r, 20)
	if st := r.Stats(); st.Requests != 21 || st.Replies != 20 {
		t.Fatalf("stats %+v: want 21 requests, 20 replies (the big one not written)", st)
	}
	request(t, q, "after")
}

// Connections beyond WithReplierMaxPeers are closed at once, before any
// handshake, and counted; a place freed is taken again.
func TestReplierConnectionLimit(t *testing.T) {
	r := replier(t, echo, WithReplierMaxPeers(2))
	a, b := requester(t, r.Endpoint()), requester(t, r.Endpoint())
	request(t, a, "a")
	request(t, b, "b")
	c, err := net.Dial("tcp", r.Endpoint()[len("tcp://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(safety))
	if _, err := io.ReadFull(c, make([]byte, greetingSize)); err == nil {
		t.Fatal("a connection over the limit got a greeting")
	}
	if st := r.Stats(); st.Refused != 1 || st.Peers != 2 {
		t.Fatalf("stats %+v", st)
	}
	request(t, a, "a")
	b.Close()
	waitFor(t, "b's place to be freed", func() bool { return r.Stats().Peers == 1 })
	request(t, requester(t, r.Endpoint()), "c")
}

// A connection that sends no request for the idle timeout is closed (and
// PINGs do not count as requests); a Requester whose connection was closed
// so notices, and its next Request connects anew.
func TestIdleConnectionsAreClosed(t *testing.T) {
	r := replier(t, echo, WithIdleTimeout(300*time.Millisecond))
	c := rawPeer(t, r.Endpoint(), typeReq)
	c.Write(appendCommand(nil, "PING", []byte{0, 10, 'p'}))
	if flags, body := readFrame(t, c); flags != flagCommand || string(body) != "\x04PONGp" {
		t.Fatalf("answer to a PING: flags %#x, %q", flags, body)
	}
	closedByPeer(t, c, "the idle connection to be closed")

	q := requester(t, r.Endpoint())
	request(t, q, "one")
	first := connOf(q)
	waitFor(t, "the Requester to see its connection closed", func() bool {
		select {
		case <-first.done:
			return true
		default:
			return false
		}
	})
	if got := request(t, q, "two"); !slices.Equal(got, []string{"two"}) {
		t.Fatalf("reply %q", got)
	}
	if connOf(q) == first {
		t.Fatal("the closed connection was used again")
	}
	if st := r.Stats(); st.Idle < 2 || st.Cut != 0 {
		t.Fatalf("stats %+v: want 2 idle (or 3)", st)
	}
}

// PINGs are answered, one PONG for those read together, with the last
// one's context; a PING with a context beyond 16 bytes is a protocol error.
func TestReplierAnswersPings(t *testing.T) {
	r := replier(t, echo)
	c := rawPeer(t, r.Endpoint(), typeReq)
	var pings []byte
	for i := range 3 {
		pings = appendCommand(pings, "PING", []byte{0, 10, byte('a' + i)})
	}
	c.Write(append(pings, wire("", "q")...))
	var pongs []string
	for {
		flags, body := readFrame(t, c)
		if flags&flagCommand == 0 {
			break
		}
		pongs = append(pongs, string(body))
	}
	if len(pongs) == 0 || pongs[len(pongs)-1] != "\x04PONGc" {
		t.Fatalf("PONGs %q, want the last with context c", pongs)
	}
	readFrame(t, c) // the reply's last frame
	c.Write(appendCommand(nil, "PING", append([]byte{0, 10}, make([]byte, 17)...)))
	closedByPeer(t, c, "the peer with a 17-byte PING context to be cut off")
	if st := r.Stats(); st.Cut != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Peers of socket types a REP cannot talk to fail the handshake, counted.
func TestReplierRefusesIncompatibleSocketTypes(t *testing.T) {
	r := replier(t, echo)
	for i, typ := range []socketType{typeSub, typeRep, typeRouter, typeReq, typeDealer} {
		c, err := net.Dial("tcp", r.Endpoint()[len("tcp://"):])
		if err != nil {
			t.Fatal(err)
		}
		err = handshake(c, typ)
		c.Close()
		ok := typ == typeReq || typ == typeDealer
		if ok != (err == nil) {
			t.Fatalf("%s: handshake %v", typ, err)
		}
		if !ok {
			waitFor(t, "the handshake error to be counted", func() bool { return r.Stats().HandshakeErrors == uint64(i+1) })
		}
	}
}

// A Request whose ctx ends while the Handler works returns ctx's error;
// the connection is dropped, so the late reply is never taken for the next
// request's, which goes on a new connection.
func TestRequestDeadlineDropsTheConnection(t *testing.T) {
	release := make(chan struct{})
	r := replier(t, func(req, reply [][]byte) [][]byte {
		if string(req[0]) == "slow" {
			<-release
		}
		return append(reply, req...)
	})
	q := requester(t, r.Endpoint())
	request(t, q, "warm")
	first := connOf(q)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := q.Request(ctx, []byte("slow"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > safety {
		t.Fatalf("Request took %v with a 100ms deadline", d)
	}
	close(release)
	if got := request(t, q, "fast"); !slices.Equal(got, []string{"fast"}) {
		t.Fatalf("the next Request got %q", got)
	}
	if connOf(q) == first {
		t.Fatal("the next Request used the abandoned connection")
	}
	// A ctx that has ended already: nothing is sent.
	cancel()
	if _, err := q.Request(ctx, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request with an ended ctx = %v", err)
	}
}

// Close makes a Request blocked on a slow server return ErrClosed at once,
// and a waiting one too; Requests after Close are ErrClosed. A Replier's
// Close waits for the Handler in progress to return.
func TestCloseWhileARequestIsBlocked(t *testing.T) {
	release := make(chan struct{})
	var returned atomic.Bool
	r, err := ListenReplier("tcp://127.0.0.1:0", func(req, reply [][]byte) [][]byte {
		<-release
		returned.Store(true)
		return append(reply, req...)
	})
	if err != nil {
		t.Fatal(err)
	}
	q, err := DialRequester(r.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := q.Request(context.Background(), []byte("q"))
			errs <- err
		}()
	}
	waitFor(t, "the request to reach the Handler", func() bool { return r.Stats().Requests == 1 })
	closed := make(chan error, 1)
	go func() { closed <- q.Close() }()
	for range 2 {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("Request = %v, want ErrClosed", err)
			}
		case <-time.After(safety):
			t.Fatal("Request still blocked after Close")
		}
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(safety):
		t.Fatal("Close blocked")
	}
	if _, err := q.Request(context.Background(), []byte("q")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Request after Close = %v", err)
	}
	if err := q.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}

	rclosed := make(chan bool, 1)
	go func() {
		r.Close()
		rclosed <- returned.Load()
	}()
	close(release)
	if !<-rclosed {
		t.Fatal("the Replier's Close returned before the Handler in progress")
	}
	if err := r.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
}

// A reply beyond WithMaxReply fails its Request, with a protocol error,
// and drops the connection; the next Request connects anew.
func TestAReplyBeyondMaxReplyIsAnError(t *testing.T) {
	r := replier(t, func(req, reply [][]byte) [][]byte {
		if string(req[0]) == "big" {
			return append(reply, make([]byte, 2048))
		}
		return append(reply, req...)
	})
	q := requester(t, r.Endpoint(), WithMaxReply(1024))
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	if _, err := q.Request(ctx, []byte("big")); !errors.Is(err, ErrFrameTooLong) || !errors.Is(err, ErrProtocol) {
		t.Fatalf("Request = %v, want ErrFrameTooLong", err)
	}
	if got := request(t, q, "small"); !slices.Equal(got, []string{"small"}) {
		t.Fatalf("reply %q", got)
	}
}

// The reply's frames are the caller's: they stay valid after the next
// Request, though the connection reads on meanwhile (here: a PING the
// server sends after each reply, which the Requester answers), for a small
// reply (copied out of the read buffer) as for a large one (which takes
// it); appending to one does not overwrite the next.
func TestReplyFramesAreTheCallers(t *testing.T) {
	large := string(bytes.Repeat([]byte("L"), copyReply))
	pongs := make(chan string, 2)
	ep := fakeREP(t, func(c net.Conn) {
		for i := 0; ; i++ {
			req, err := readMessageErr(c)
			if err != nil || len(req) != 2 {
				return
			}
			pad := ""
			if req[1] == "large" {
				pad = large
			}
			c.Write(wire("", req[1]+"-1", req[1]+"-2"+pad))
			c.Write(appendCommand(nil, "PING", []byte{0, 10, byte('0' + i)}))
			_, pong, err := readFrameErr(c)
			if err != nil {
				return
			}
			pongs <- string(pong)
		}
	})
	q := requester(t, ep)
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	var replies [][][]byte
	for i, name := range []string{"small", "large", "small", "large", "small"} {
		reply, err := q.Request(ctx, []byte(name))
		if err != nil {
			t.Fatal(err)
		}
		if p, want := <-pongs, fmt.Sprintf("\x04PONG%d", i); p != want {
			t.Fatalf("PONG %q, want %q", p, want)
		}
		_ = append(reply[0], "XXXX"...)
		replies = append(replies, reply)
	}
	for i, reply := range replies {
		name := []string{"small", "large", "small", "large", "small"}[i]
		want := []string{name + "-1", name + "-2"}
		if name == "large" {
			want[1] += large
		}
		if got := strs(reply); !slices.Equal(got, want) {
			t.Fatalf("reply %d is %.30q, want %.30q", i, got, want)
		}
	}
}

// A server that breaks REQ's alternation fails the Request with a protocol
// error (a reply without the delimiter), or, when it sends a message no
// request waits for, loses the connection at once.
func TestRequesterRefusesMalformedReplies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply []byte
	}{
		{"no delimiter", wire("reply")},
		{"the delimiter alone", wire("")},
		{"a non-empty first frame", wire("x", "reply")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := fakeREP(t, func(c net.Conn) {
				if _, err := readMessageErr(c); err == nil {
					c.Write(tc.reply)
					io.Copy(io.Discard, c)
				}
			})
			q := requester(t, ep)
			ctx, cancel := context.WithTimeout(context.Background(), safety)
			defer cancel()
			if _, err := q.Request(ctx, []byte("q")); !errors.Is(err, ErrProtocol) {
				t.Fatalf("Request = %v, want ErrProtocol", err)
			}
		})
	}
	t.Run("a message after the reply", func(t *testing.T) {
		ep := fakeREP(t, func(c net.Conn) {
			if _, err := readMessageErr(c); err == nil {
				c.Write(wire("", "reply"))
				c.Write(wire("", "another"))
				io.Copy(io.Discard, c)
			}
		})
		q := requester(t, ep)
		if got := request(t, q, "q"); !slices.Equal(got, []string{"reply"}) {
			t.Fatalf("reply %q", got)
		}
		rc := connOf(q)
		waitFor(t, "the connection to be dropped", func() bool {
			select {
			case <-rc.done:
				return true
			default:
				return false
			}
		})
		if !errors.Is(rc.err, ErrProtocol) {
			t.Fatalf("the connection ended with %v, want ErrProtocol", rc.err)
		}
	})
}

// DialRequester checks the endpoint; a Request to an endpoint where nobody
// listens fails at once with the OS's reason; one to a socket that is no
// REP fails the handshake.
func TestRequesterConnectionErrors(t *testing.T) {
	for _, ep := range []string{"tcp://*:5555", "udp://127.0.0.1:1", "127.0.0.1:5555", "tcp://nohost"} {
		if _, err := DialRequester(ep); !errors.Is(err, ErrEndpoint) {
			t.Errorf("DialRequester(%q) = %v, want ErrEndpoint", ep, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	q := requester(t, "tcp://"+addr)
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	if _, err := q.Request(ctx, []byte("q")); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Request to nobody = %v, want ECONNREFUSED", err)
	}
	p := listen(t)
	if _, err := requester(t, p.Endpoint()).Request(ctx, []byte("q")); !errors.Is(err, ErrProtocol) {
		t.Fatalf("Request to a PUB = %v, want ErrProtocol", err)
	}
}

// The Handler's own reply slice is its own: the Replier clears only the
// slice it passed in, so a reply shared between calls stays intact.
func TestAHandlersOwnReplySliceIsLeftAlone(t *testing.T) {
	cached := [][]byte{[]byte("cached"), []byte("reply")}
	r := replier(t, func(req, reply [][]byte) [][]byte { return cached })
	q := requester(t, r.Endpoint())
	for range 3 {
		if got := request(t, q, "q"); !slices.Equal(got, []string{"cached", "reply"}) {
			t.Fatalf("reply %q", got)
		}
	}
	if !slices.Equal(strs(cached), []string{"cached", "reply"}) {
		t.Fatalf("the Handler's slice became %q", cached)
	}
}
