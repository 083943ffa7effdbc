package interop

// zmtp's Replier and Requester against libzmq's REQ, DEALER and REP
// (python3-zmq), on 127.0.0.1.

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast/zmtp"
)

// libzmqReq sends N requests from a REQ, one at a time, and prints each
// reply as a JSON list of hex frames, then DONE. The last request asks for
// a large reply.
const libzmqReq = `
import json, sys, zmq
ep, n = sys.argv[1], int(sys.argv[2])
s = zmq.Context().socket(zmq.REQ)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.RCVTIMEO, 20000)
s.connect(ep)
for i in range(n):
    s.send_multipart([b"req %d" % i, b"", bytes([i % 256]) * (i * 1000)])
    print(json.dumps([f.hex() for f in s.recv_multipart()]), flush=True)
s.send(b"big")
print(json.dumps([f.hex() for f in s.recv_multipart()]), flush=True)
print("DONE", flush=True)
`

// libzmqDealer sends, from a DEALER, a message without the delimiter, then
// N requests with it, all at once; then prints the N replies as above, and
// DONE.
const libzmqDealer = `
import json, sys, zmq
ep, n = sys.argv[1], int(sys.argv[2])
s = zmq.Context().socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.RCVTIMEO, 20000)
s.connect(ep)
s.send_multipart([b"no delimiter"])
for i in range(n):
    s.send_multipart([b"", b"req %d" % i])
for i in range(n):
    print(json.dumps([f.hex() for f in s.recv_multipart()]), flush=True)
print("DONE", flush=True)
`

// libzmqRep binds a REP, prints its endpoint, and answers each request
// with [b"re", request frames...] until the request [b"STOP"]; then prints
// how many connections it accepted. ZMQ_HEARTBEAT_IVL_MS turns ZMTP
// heartbeats on, with a timeout of three intervals: a peer that does not
// answer PINGs is dropped.
const libzmqRep = `
import os, sys, zmq
from zmq.utils.monitor import recv_monitor_message
s = zmq.Context().socket(zmq.REP)
s.setsockopt(zmq.LINGER, 0)
ivl = int(os.environ.get("ZMQ_HEARTBEAT_IVL_MS", "0"))
if ivl > 0:
    s.setsockopt(zmq.HEARTBEAT_IVL, ivl)
    s.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3 * ivl)
mon = s.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
s.bind(sys.argv[1])
print(s.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
s.setsockopt(zmq.RCVTIMEO, 30000)
while True:
    req = s.recv_multipart()
    if req == [b"STOP"]:
        s.send(b"bye")
        break
    s.send_multipart([b"re"] + req)
accepted = disconnected = 0
while mon.poll(200):
    ev = recv_monitor_message(mon)
    if ev["event"] == zmq.EVENT_ACCEPTED:
        accepted += 1
    elif ev["event"] == zmq.EVENT_DISCONNECTED:
        disconnected += 1
print("ACCEPTED %d DISCONNECTED %d" % (accepted, disconnected), flush=True)
`

// hexFrames decodes a line of JSON hex frames.
func hexFrames(t *testing.T, line string) []string {
	t.Helper()
	var hexes []string
	if err := json.Unmarshal([]byte(line), &hexes); err != nil {
		t.Fatalf("peer output %.80q: %v", line, err)
	}
	var out []string
	for _, h := range hexes {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// big is the large reply (or request) of these tests: 1 MiB, written from
// where it is.
var big = bytes.Repeat([]byte("0123456789abcdef"), 64<<10)

// reReplier answers [b"re", request frames...], or big to the request
// "big".
func reReplier(t *testing.T) *zmtp.Replier {
	t.Helper()
	r, err := zmtp.ListenReplier("tcp://127.0.0.1:0", func(req, reply [][]byte) [][]byte {
		if len(req) == 1 && string(req[0]) == "big" {
			return append(reply, []byte("re"), big)
		}
		reply = append(reply, []byte("re"))
		return append(reply, req...)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestLibzmqReqToReplier(t *testing.T) {
	needLibzmq(t)
	r := reReplier(t)
	const n = 50
	p := startIn(t, "", nil, python, "-c", libzmqReq, r.Endpoint(), fmt.Sprint(n))
	for i := range n {
		want := []string{"re", fmt.Sprintf("req %d", i), "", string(bytes.Repeat([]byte{byte(i)}, i*1000))}
		if got := hexFrames(t, p.line(t)); !slices.Equal(got, want) {
			t.Fatalf("reply %d: %.60q, want %.60q", i, got, want)
		}
	}
	if got := hexFrames(t, p.line(t)); !slices.Equal(got, []string{"re", string(big)}) {
		t.Fatalf("big reply: %d frames", len(got))
	}
	if l := p.line(t); l != "DONE" {
		t.Fatalf("peer said %q", l)
	}
	// The last reply arrived; its writer may not have counted it yet.
	for deadline := time.Now().Add(10 * time.Second); r.Stats().Replies < n+1 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if st := r.Stats(); st.Requests != n+1 || st.Replies != n+1 || st.Malformed != 0 || st.Cut != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLibzmqDealerToReplier(t *testing.T) {
	needLibzmq(t)
	r := reReplier(t)
	const n = 20
	p := startIn(t, "", nil, python, "-c", libzmqDealer, r.Endpoint(), fmt.Sprint(n))
	for i := range n {
		want := []string{"", "re", fmt.Sprintf("req %d", i)}
		if got := hexFrames(t, p.line(t)); !slices.Equal(got, want) {
			t.Fatalf("reply %d: %q, want %q", i, got, want)
		}
	}
	if l := p.line(t); l != "DONE" {
		t.Fatalf("peer said %q", l)
	}
	// The message without a delimiter was dropped, the connection kept.
	if st := r.Stats(); st.Malformed != 1 || st.Requests != n || st.Cut != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRequesterToLibzmqRep(t *testing.T) {
	needLibzmq(t)
	// Heartbeats every 20 ms, a 60 ms timeout: the Requester must answer
	// PINGs while a request waits and between requests too.
	p := startIn(t, "", []string{"ZMQ_HEARTBEAT_IVL_MS=20"}, python, "-c", libzmqRep, "tcp://127.0.0.1:*")
	ep := p.line(t)
	q, err := zmtp.DialRequester(ep)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, tc := range []struct {
		req  []string
		want []string
	}{
		{[]string{"hello"}, []string{"re", "hello"}},
		{[]string{"a", "", strings.Repeat("c", 300)}, []string{"re", "a", "", strings.Repeat("c", 300)}},
		{[]string{string(big)}, []string{"re", string(big)}},
		{nil, []string{"re", ""}},
		{[]string{"after a pause"}, []string{"re", "after a pause"}},
	} {
		if i == 4 {
			// Idle for ten heartbeat intervals: unanswered PINGs would
			// make libzmq drop the connection.
			time.Sleep(200 * time.Millisecond)
		}
		var req [][]byte
		for _, f := range tc.req {
			req = append(req, []byte(f))
		}
		reply, err := q.Request(ctx, req...)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		var got []string
		for _, f := range reply {
			got = append(got, string(f))
		}
		if !slices.Equal(got, tc.want) {
			t.Fatalf("request %d: reply %.60q, want %.60q", i, got, tc.want)
		}
	}
	if reply, err := q.Request(ctx, []byte("STOP")); err != nil || len(reply) != 1 || string(reply[0]) != "bye" {
		t.Fatalf("STOP: %q, %v", reply, err)
	}
	if l := p.line(t); l != "ACCEPTED 1 DISCONNECTED 0" {
		t.Fatalf("libzmq REP: %s (want one connection, kept throughout)", l)
	}
}
