package recovery

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/zmtp"
)

// client asks a Server over a real socket.
type client struct {
	t   *testing.T
	req *zmtp.Requester
	enc *schema.Encoder
	id  uint64
}

func newClient(t *testing.T, s *Server) *client {
	t.Helper()
	req, err := zmtp.DialRequester(s.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { req.Close() })
	return &client{t: t, req: req, enc: schema.NewEncoder(256)}
}

// ask sends q and returns the reply and the [topic, body] pairs after it,
// as "topic:first-last" (ticks of a message) or "topic:seq@stream"
// (snapshot).
func (c *client) ask(q schema.Request) (schema.Reply, string) {
	c.t.Helper()
	c.id++
	q.ID = c.id
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	frames, err := c.req.Request(ctx, c.enc.EncodeRequest(&q))
	if err != nil {
		c.t.Fatal(err)
	}
	return c.decode(frames)
}

func (c *client) decode(frames [][]byte) (schema.Reply, string) {
	c.t.Helper()
	var m schema.Message
	if err := m.Decode(frames[0]); err != nil || m.Type != schema.RecoveryReply {
		c.t.Fatalf("reply frame: %v %v", err, m.Type)
	}
	r := m.Reply
	r.Topic = append([]byte(nil), r.Topic...)
	if r.ID != c.id {
		c.t.Fatalf("reply to request %d, want %d", r.ID, c.id)
	}
	if len(frames) != 1+2*int(r.Count) {
		c.t.Fatalf("%d frames for %d messages", len(frames), r.Count)
	}
	var parts []string
	for i := 1; i < len(frames); i += 2 {
		if err := m.Decode(frames[i+1]); err != nil {
			c.t.Fatal(err)
		}
		switch m.Type {
		case schema.Batch:
			parts = append(parts, fmt.Sprintf("%s:%d-%d", frames[i], m.Tick(0).Seq, m.Tick(m.Len()-1).Seq))
		case schema.Snapshot:
			parts = append(parts, fmt.Sprintf("%s:%d@%d", frames[i], m.Tick(0).Seq, m.StreamSeq))
		default:
			c.t.Fatalf("a %v in a reply", m.Type)
		}
	}
	return r, strings.Join(parts, " ")
}

func newServer(t *testing.T, opts ...ServerOption) *Server {
	t.Helper()
	s, err := NewServer("tcp://127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A Server is a publisher's sink: it keeps what is published, and replays
// it on request.
func TestAServerReplaysWhatWasPublished(t *testing.T) {
	s := newServer(t, WithReplyLimits(2, 1<<20, 100))
	f := newFeed(42)
	var sink port.Sink = s
	for range 4 {
		sink.Send(port.Message{Topic: []byte("AAPL"), Body: f.batch("AAPL", 3)})
		sink.Send(port.Message{Topic: []byte("MSFT"), Body: f.batch("MSFT", 1)})
	}
	c := newClient(t, s)
	r, got := c.ask(schema.Request{Kind: schema.ReplayRequest, Session: 42, Topic: []byte("AAPL"), From: 2, To: 12})
	if r.Status != schema.ReplyPartial || r.To != 6 || r.Session != 42 || got != "AAPL:1-3 AAPL:4-6" {
		t.Fatalf("%+v %s", r, got)
	}
	r, got = c.ask(schema.Request{Kind: schema.ReplayRequest, Topic: []byte("AAPL"), From: r.To + 1, To: 12})
	if r.Status != schema.ReplyOK || r.To != 12 || got != "AAPL:7-9 AAPL:10-12" {
		t.Fatalf("%+v %s", r, got)
	}
	r, got = c.ask(schema.Request{Kind: schema.ReplayRequest, Topic: []byte("MSFT"), From: 4, To: 9})
	if r.Status != schema.ReplyNotAvailable || r.To != 4 || r.HeldFrom != 0 || got != "MSFT:4-4" {
		t.Fatalf("%+v %s", r, got)
	}
	st := s.ServerStats()
	if st.Requests != 3 || st.Replays != 3 || st.MessagesServed != 5 || st.NotAvailable != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestASnapshotHasEveryMatchingTopicsLastValueInPages(t *testing.T) {
	s := newServer(t, WithReplyLimits(100, 1<<20, 2))
	f := newFeed(42)
	for _, topic := range []string{"AAPL", "MSFT", "AAPL.OQ", "AMZN", "AAPL"} {
		s.Send(port.Message{Topic: []byte(topic), Body: f.batch(topic, 2)})
	}
	c := newClient(t, s)
	r, got := c.ask(schema.Request{Kind: schema.SnapshotRequest, Prefixes: [][]byte{[]byte("A")}})
	if r.Status != schema.ReplyPartial || string(r.Topic) != "AAPL.OQ" || got != "AAPL:4@5 AAPL.OQ:2@3" {
		t.Fatalf("%+v %s", r, got)
	}
	r, got = c.ask(schema.Request{Kind: schema.SnapshotRequest, Prefixes: [][]byte{[]byte("A")}, Topic: r.Topic})
	if r.Status != schema.ReplyOK || got != "AMZN:2@4" {
		t.Fatalf("%+v %s", r, got)
	}
}

func TestAServerAnswersWhatItCannotServeWithAReason(t *testing.T) {
	s := newServer(t)
	f := newFeed(42)
	s.Send(port.Message{Topic: []byte("AAPL"), Body: f.batch("AAPL", 2)})
	c := newClient(t, s)
	if r, _ := c.ask(schema.Request{Kind: schema.ReplayRequest, Session: 41, Topic: []byte("AAPL"), From: 1, To: 2}); r.Status != schema.ReplyUnknownSession || r.Session != 42 {
		t.Errorf("another session: %+v", r)
	}
	if r, _ := c.ask(schema.Request{Kind: schema.ReplayRequest, Topic: []byte("AAPL"), From: 3, To: 2}); r.Status != schema.ReplyBadRequest || r.Detail == "" {
		t.Errorf("a backwards range: %+v", r)
	}
	// Not a request at all: a reply saying so, never silence.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	frames, err := c.req.Request(ctx, []byte("garbage"))
	if err != nil {
		t.Fatal(err)
	}
	c.id = 0
	if r, _ := c.decode(frames); r.Status != schema.ReplyBadRequest {
		t.Errorf("garbage: %+v", r)
	}
	if st := s.ServerStats(); st.BadRequests != 2 {
		t.Errorf("stats %+v", st)
	}
}
