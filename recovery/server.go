package recovery

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/zmtp"
)

// Defaults of a Server's reply bounds.
const (
	// DefaultReplyMessages bounds the messages of one replay reply.
	DefaultReplyMessages = 1024
	// DefaultReplyBytes bounds the bytes of one reply.
	DefaultReplyBytes = 4 << 20
	// DefaultSnapshotTopics bounds the topics of one snapshot reply.
	DefaultSnapshotTopics = 10_000
)

// ServerOption configures a Server.
type ServerOption func(*Server)

// WithRetention bounds the history by age and by bytes (zero: the default).
func WithRetention(age time.Duration, bytes int64) ServerOption {
	return func(s *Server) { s.age, s.bytes = age, bytes }
}

// WithMaxTopics bounds the topics whose last value is kept.
func WithMaxTopics(n int) ServerOption { return func(s *Server) { s.maxTopics = n } }

// WithReplyLimits bounds one reply: replay messages, bytes, snapshot topics.
func WithReplyLimits(messages, bytes, topics int) ServerOption {
	return func(s *Server) { s.lim, s.snapTopics = Limits{Messages: messages, Bytes: bytes}, topics }
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) ServerOption { return func(s *Server) { s.log = l } }

// WithReplierOptions passes options to the request socket (bounds on peers,
// request sizes, timeouts).
func WithReplierOptions(opts ...zmtp.ReplierOption) ServerOption {
	return func(s *Server) { s.repOpts = append(s.repOpts, opts...) }
}

// Server is a retransmission service: it keeps the recent history of a feed
// (a History) and answers replay and snapshot requests on a ZeroMQ REP
// endpoint (tcp:// or ipc://; libzmq REQ and DEALER clients speak to it).
//
// Feed it as a port.Sink, beside a publisher's other sinks (so it records
// exactly what is published), or with Record from a subscription (a
// caching service near remote subscribers, or one for a publisher that has
// none). A request is answered only to the connection that made it, with a
// reply bounded in messages and bytes.
type Server struct {
	age        time.Duration
	bytes      int64
	maxTopics  int
	lim        Limits
	snapTopics int
	log        *slog.Logger
	repOpts    []zmtp.ReplierOption

	rep *zmtp.Replier

	mu   sync.Mutex // guards hist
	hist *History

	requests, replays, snapshots, notAvailable, badRequests atomic.Uint64
	ticksServed, messagesServed                             atomic.Uint64
	messages, msgBytes                                      atomic.Uint64
}

// replyBuf is one request's working storage.
type replyBuf struct {
	enc    *schema.Encoder
	req    schema.Message
	msgs   []Msg
	lvs    []LastValue
	data   []byte // copies of the messages replied, made under the lock
	frames [][]byte
	snap   []byte // encoded snapshot messages
	tick   [1]schema.Tick
}

// NewServer starts a Server that answers on endpoint.
func NewServer(endpoint string, opts ...ServerOption) (*Server, error) {
	s := &Server{lim: Limits{Messages: DefaultReplyMessages, Bytes: DefaultReplyBytes},
		snapTopics: DefaultSnapshotTopics, log: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	s.hist = NewHistory(s.age, s.bytes, s.maxTopics)
	rep, err := zmtp.ListenReplier(endpoint, s.handle, append([]zmtp.ReplierOption{zmtp.WithReplierLogger(s.log)}, s.repOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("recovery: %w", err)
	}
	s.rep = rep
	return s, nil
}

// Endpoint returns the endpoint the Server answers on, as bound.
func (s *Server) Endpoint() string { return s.rep.Endpoint() }

// Record keeps a message [topic, body] of the feed, received now.
func (s *Server) Record(topic, body []byte, now time.Time) {
	s.messages.Add(1)
	s.msgBytes.Add(uint64(len(topic) + len(body)))
	s.mu.Lock()
	s.hist.Add(topic, body, now)
	s.mu.Unlock()
}

// Send records m: a Server is a port.Sink, so a publisher feeds it as it
// feeds its transports.
func (s *Server) Send(m port.Message) error {
	s.Record(m.Topic, m.Body, time.Now())
	return nil
}

// Flush does nothing: Send has recorded the message already.
func (s *Server) Flush() error { return nil }

// Stats returns the counters a publisher shows for its sinks.
func (s *Server) Stats() port.SinkStats {
	return port.SinkStats{Endpoint: s.Endpoint(), Peers: s.rep.Stats().Peers, Subscribed: -1,
		Messages: s.messages.Load(), Bytes: s.msgBytes.Load()}
}

// ServerStats are a Server's counters.
type ServerStats struct {
	History        HistoryStats
	Requests       uint64 // requests answered, whatever the answer
	Replays        uint64 // replay requests answered with messages (OK or partial)
	Snapshots      uint64 // snapshot requests answered
	NotAvailable   uint64 // requests for what the history does not hold
	BadRequests    uint64 // malformed or unknown requests
	MessagesServed uint64 // messages sent in replies
	TicksServed    uint64 // snapshot ticks sent
	Replier        zmtp.ReplierStats
}

// ServerStats returns the Server's counters.
func (s *Server) ServerStats() ServerStats {
	s.mu.Lock()
	hs := s.hist.Stats()
	s.mu.Unlock()
	return ServerStats{History: hs, Requests: s.requests.Load(), Replays: s.replays.Load(),
		Snapshots: s.snapshots.Load(), NotAvailable: s.notAvailable.Load(), BadRequests: s.badRequests.Load(),
		MessagesServed: s.messagesServed.Load(), TicksServed: s.ticksServed.Load(), Replier: s.rep.Stats()}
}

// Close stops answering.
func (s *Server) Close() error { return s.rep.Close() }

// Sink returns a port.Sink that records into the Server and whose Close
// does not close it: for a publisher whose Close must not end the service
// (subscribers may still ask for the last ticks after the end of the
// session). Close the Server itself when done.
func (s *Server) Sink() port.Sink { return recorder{s} }

// recorder is Server's Sink.
type recorder struct{ *Server }

func (recorder) Close() error { return nil }

// handle answers one request: frame 0 a Message of type RecoveryRequest.
// The reply is a RecoveryReply frame, then Count pairs [topic, body].
func (s *Server) handle(req [][]byte, reply [][]byte) [][]byte {
	s.requests.Add(1)
	// The reply's frames refer to b until the Replier has written them:
	// each request has its own (requests are rare; replies are bounded).
	b := &replyBuf{enc: schema.NewEncoder(1024)}
	r := schema.Reply{Status: schema.ReplyBadRequest}
	switch err := b.decode(req); {
	case err != nil:
		s.badRequests.Add(1)
		r.Detail = err.Error()
	case b.req.Request.Validate() != nil:
		s.badRequests.Add(1)
		r.ID, r.Detail = b.req.Request.ID, b.req.Request.Validate().Error()
	case b.req.Request.Kind == schema.ReplayRequest:
		r = s.replay(b, &b.req.Request)
	case b.req.Request.Kind == schema.SnapshotRequest:
		r = s.snapshot(b, &b.req.Request)
	default:
		s.badRequests.Add(1)
		r.Detail = fmt.Sprintf("unknown request kind %d", b.req.Request.Kind)
	}
	if len(req) > 0 && r.Status == schema.ReplyBadRequest && r.ID == 0 && b.req.Type == schema.RecoveryRequest {
		r.ID = b.req.Request.ID
	}
	reply = append(reply, bytes.Clone(b.enc.EncodeReply(&r)))
	return append(reply, b.frames...)
}

// decode checks the request's shape and decodes it into b.req.
func (b *replyBuf) decode(req [][]byte) error {
	b.frames = b.frames[:0]
	if len(req) != 1 {
		return fmt.Errorf("a request is one frame, not %d", len(req))
	}
	if err := b.req.Decode(req[0]); err != nil {
		return err
	}
	if b.req.Type != schema.RecoveryRequest {
		return fmt.Errorf("not a recovery request: %v", b.req.Type)
	}
	return nil
}

// replay answers a replay request from the history: the messages copied
// under the lock, so the history may move on while they are written.
func (s *Server) replay(b *replyBuf, q *schema.Request) schema.Reply {
	r := schema.Reply{ID: q.ID, Topic: q.Topic, From: q.From}
	if len(q.Topic) == 0 || q.From == 0 || q.From > q.To {
		s.badRequests.Add(1)
		r.Status, r.Detail = schema.ReplyBadRequest, "a replay names a topic and a range from >= 1 up to to >= from"
		return r
	}
	now := time.Now()
	s.mu.Lock()
	session, _ := s.hist.Session()
	r.Session = session
	if q.Session != 0 && q.Session != session {
		s.mu.Unlock()
		s.notAvailable.Add(1)
		r.Status = schema.ReplyUnknownSession
		return r
	}
	res, msgs := s.hist.Replay(q.Topic, q.From, q.To, s.lim, now, b.msgs[:0])
	b.data = b.data[:0]
	for _, m := range msgs {
		b.data = append(b.data, m.Topic...)
		b.data = append(b.data, m.Body...)
	}
	s.mu.Unlock()
	b.msgs = msgs
	off := 0
	for _, m := range msgs {
		t := b.data[off : off+len(m.Topic) : off+len(m.Topic)]
		off += len(m.Topic)
		body := b.data[off : off+len(m.Body) : off+len(m.Body)]
		off += len(m.Body)
		b.frames = append(b.frames, t, body)
	}
	r.Status, r.To, r.HeldFrom, r.HeldTo, r.Count = res.Status, res.To, res.HeldFrom, res.HeldTo, uint32(len(msgs))
	if len(msgs) > 0 {
		s.replays.Add(1)
		s.messagesServed.Add(uint64(len(msgs)))
	}
	if res.Status == schema.ReplyNotAvailable {
		s.notAvailable.Add(1)
	}
	return r
}

// snapshot answers a snapshot request: one Snapshot message per topic that
// starts with one of the prefixes (none: every topic), in topic order, from
// after the request's Topic (a cursor: the Topic of a partial reply).
func (s *Server) snapshot(b *replyBuf, q *schema.Request) schema.Reply {
	r := schema.Reply{ID: q.ID}
	match := func(topic []byte) bool {
		if len(q.Topic) > 0 && bytes.Compare(topic, q.Topic) <= 0 {
			return false
		}
		if len(q.Prefixes) == 0 {
			return true
		}
		for _, p := range q.Prefixes {
			if bytes.HasPrefix(topic, p) {
				return true
			}
		}
		return false
	}
	s.mu.Lock()
	session, _ := s.hist.Session()
	r.Session = session
	if q.Session != 0 && q.Session != session {
		s.mu.Unlock()
		s.notAvailable.Add(1)
		r.Status = schema.ReplyUnknownSession
		return r
	}
	lvs := s.hist.LastValues(b.lvs[:0])
	s.mu.Unlock() // last values are copies; their topics are the History's, never changed once made
	// Matching and sorting outside the lock: a snapshot of many topics
	// must not hold up the publisher recording its feed.
	lvs = filterSort(lvs, 0, match)
	b.lvs = lvs
	r.Status = schema.ReplyOK
	if len(lvs) > s.snapTopics {
		lvs, r.Status = lvs[:s.snapTopics], schema.ReplyPartial
	}
	b.snap = b.snap[:0]
	var offs []int
	for _, lv := range lvs {
		b.tick[0] = lv.Tick
		msg := b.enc.Encode(schema.Header{Type: schema.Snapshot, Session: session, StreamSeq: lv.Stream,
			TopicSeq: lv.Tick.Seq}, b.tick[:])
		offs = append(offs, len(b.snap))
		b.snap = append(b.snap, msg...)
	}
	offs = append(offs, len(b.snap))
	for i, lv := range lvs {
		b.frames = append(b.frames, lv.Topic, b.snap[offs[i]:offs[i+1]:offs[i+1]])
	}
	if len(lvs) > 0 {
		r.Topic = lvs[len(lvs)-1].Topic
	}
	r.Count = uint32(len(lvs))
	s.snapshots.Add(1)
	s.ticksServed.Add(uint64(len(lvs)))
	return r
}

var _ port.Sink = (*Server)(nil)
