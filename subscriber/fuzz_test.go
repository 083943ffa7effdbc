package subscriber

import (
	"testing"
	"time"

	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/topic"
)

// FuzzFeed drives the feed state machine with messages decoded from the
// fuzz input, as a hostile line would send them: two lines, a few sessions,
// topics and stream and topic sequence numbers that mostly move on from
// where they were and sometimes jump anywhere, heartbeats with any
// interval, raw garbage, transport events and time passing. After every
// step: nothing panics, every event is well formed, the topics per session
// stay under the limit, and what was delivered and reported missing never
// goes back within a session (but for the reported EventBackwards), and no
// recovery request is given longer than its bounds.
func FuzzFeed(f *testing.F) {
	f.Add([]byte{0, 0, 1, 1, 2, 0, 1, 1, 3, 1, 0, 2, 0, 9})
	f.Add([]byte{0, 0, 0, 255, 255, 0, 0, 0, 1, 1, 4, 5, 6, 2, 7, 7, 7})
	f.Add([]byte{3, 0, 1, 200, 0, 0, 2, 10, 1, 1, 3, 0, 0, 0, 5})
	f.Add([]byte{1, 0, 0, 1, 1, 0, 0, 0, 2, 1, 1, 3, 8, 0, 0, 0, 0, 0, 0, 1, 2, 0, 1, 0, 2})
	f.Add([]byte{3, 0, 0, 1, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 9, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, prog []byte) {
		var set topic.Set
		set.Add(nil)
		fd := newFeed(&set, 0, 10*time.Millisecond)
		fd.maxTopics, fd.topicIdle = 4, time.Second
		if len(prog) > 0 && prog[0]&1 == 1 {
			// With a recovery service (or two), which the program plays too.
			rc := recoveryConfig{timeout: 50 * time.Millisecond, endpoint: "R"}
			if prog[0]&4 == 4 {
				rc.services = []string{"R", "S"}
			}
			fd.enableRecovery(rc)
			fd.snapshots = prog[0]&2 == 2
		}
		var pending []recoveryRequest
		now := time.Unix(1_700_000_000, 0)
		lines := []*line{fd.addLine("A", now), fd.addLine("B", now)}
		enc := schema.NewEncoder(0)
		stream := map[uint64]uint64{1: 0, 2: 0}
		seq := map[string]uint64{}
		topics := []string{"A", "B", "C", "D", "E", "F"}
		next := func() byte {
			if len(prog) == 0 {
				return 0
			}
			b := prog[0]
			prog = prog[1:]
			return b
		}
		var ticks []schema.Tick
		for len(prog) > 0 {
			op, l := next(), lines[next()%2]
			session := uint64(1 + op%2)
			tp := topics[next()%6]
			var h schema.Header
			h.Session = session
			switch jump := next(); {
			case jump == 255:
				h.StreamSeq = uint64(next())<<56 | uint64(next())<<8
			default:
				stream[session] += uint64(jump % 4)
				h.StreamSeq = stream[session]
			}
			switch op % 10 {
			case 0, 1, 2: // ticks
				h.Type = schema.Batch
				n := 1 + int(next()%4)
				first := seq[tp] + 1
				if j := next(); j > 200 {
					first = uint64(j)<<40 | uint64(next())
				} else {
					first += uint64(j % 3)
				}
				ticks = ticks[:0]
				for i := range n {
					ticks = append(ticks, schema.Tick{Seq: first + uint64(i)})
				}
				seq[tp] = max(seq[tp], first+uint64(n)-1)
				body := enc.Encode(h, ticks)
				fd.message(l, &Raw{Topic: []byte(tp), Body: body, Frames: 2, Size: len(body)}, now)
			case 3: // topic heartbeat
				h.Type, h.TopicSeq = schema.TopicHeartbeat, seq[tp]+uint64(next()%3)
				body := enc.Encode(h, nil)
				fd.message(l, &Raw{Topic: []byte(tp), Body: body, Frames: 2, Size: len(body)}, now)
			case 4: // control
				h.Type, h.Heartbeat = schema.Heartbeat, int64(next())<<uint(next()%64)
				if next()%4 == 0 {
					h.Type = schema.EndOfSession
				}
				body := enc.Encode(h, nil)
				fd.message(l, &Raw{Topic: []byte(schema.ControlTopic), Body: body, Frames: 2, Size: len(body)}, now)
			case 5: // garbage
				n := int(next()) // before slicing: next moves prog
				body := prog[:min(len(prog), n)]
				fd.message(l, &Raw{Topic: []byte(tp), Body: body, Frames: int(next() % 4), Size: len(body)}, now)
			case 6: // transport
				fd.lineEvent(l, LineEvent{Kind: LineEventKind(1 + next()%3), Lost: uint64(next())}, now)
			case 7: // time
				now = now.Add(time.Duration(next()) * time.Millisecond * 10)
				fd.timeout(now)
			case 8, 9: // the recovery service answers (8) or fails (9) a request
				n := len(pending)
				pending = fd.takeRequests(pending)
				for _, r := range pending[n:] {
					if (r.id+uint64(op))%2 == 0 { // some are sent at once, some never
						fd.recoverySent(r.id, now)
					}
				}
				if len(pending) == 0 {
					break
				}
				i := int(next()) % len(pending)
				r := pending[i]
				pending = append(pending[:i], pending[i+1:]...)
				if op%10 == 9 {
					fd.recoveryError(r.id, errRecoveryQueue, now)
					break
				}
				rep := schema.Reply{Status: schema.ReplyStatus(next() % 6), ID: r.id, Session: r.session,
					To: r.from + uint64(next()%8), HeldFrom: r.from + uint64(next()%16), Topic: []byte(tp)}
				var frames [][]byte
				for range next() % 3 {
					first := r.from + uint64(next()%8)
					ticks = ticks[:0]
					for k := range 1 + int(next()%4) {
						ticks = append(ticks, schema.Tick{Seq: first + uint64(k)})
					}
					typ := schema.Batch
					if r.snapshot {
						typ = schema.Snapshot
						ticks = ticks[:1]
					}
					body := append([]byte(nil), enc.Encode(schema.Header{Type: typ, Session: r.session}, ticks)...)
					frames = append(frames, []byte(topics[next()%6]), body)
				}
				if r.snapshot {
					fd.snapshotReply(r.id, &rep, frames, now)
					break
				}
				var bodies [][]byte
				for k := 1; k < len(frames); k += 2 {
					bodies = append(bodies, frames[k])
				}
				fd.recoveryReply(r.id, &rep, bodies, now)
			}
			for fd.pending() {
				ev := fd.pop()
				switch ev.Kind {
				case EventGap:
					if ev.Gap.Received-ev.Gap.Expected != ev.Gap.Missing || ev.Gap.Missing == 0 {
						t.Fatalf("gap %+v", ev.Gap)
					}
				case EventRecovered:
					if ev.Gap.Received-ev.Gap.Expected != ev.Gap.Missing || ev.Gap.Missing == 0 {
						t.Fatalf("recovered %+v", ev.Gap)
					}
				case EventTicks:
					for i := 1; i < len(ev.Ticks); i++ {
						if ev.Ticks[i].Seq != ev.Ticks[i-1].Seq+1 {
							t.Fatalf("ticks out of order: %v", ev.Ticks)
						}
					}
				case 0:
					t.Fatal("an event of no kind")
				}
			}
			for _, tp := range fd.recovering {
				// (A hole no other line can fill any more is settled as of
				// the end of its arbitration window, which may be ahead.)
				if tp.rec.deadline.After(now.Add(fd.arbitration + fd.queueLimit())) {
					t.Fatalf("a request given until %v, beyond the queue's bound", tp.rec.deadline.Sub(now))
				}
				if !tp.rec.sent && tp.rec.deadline.After(tp.rec.queued.Add(maxQueueTimeouts*fd.rec.timeout)) {
					t.Fatalf("a request waits unsent %v after it was queued", tp.rec.deadline.Sub(tp.rec.queued))
				}
			}
			for _, s := range fd.sessions {
				if len(s.topics) > fd.maxTopics {
					t.Fatalf("%d topics, limit %d", len(s.topics), fd.maxTopics)
				}
			}
		}
	})
}
