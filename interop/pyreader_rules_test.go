package interop

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/subscriber"
)

// ruleScenario is a sequence of messages as one line brings them to a
// subscriber, and the subscriber's configuration.
type ruleScenario struct {
	msgs      [][][]byte // each a message's frames
	prefixes  []string
	maxTopics int
}

// simPub is a publisher as package publisher behaves on the wire: stream
// sequence +1 per message, per-topic sequences, and each message naming
// the topic's previous one.
type simPub struct {
	session, stream uint64
	topics          map[string]*simTopic
	enc             *schema.Encoder
}

type simTopic struct{ seq, prevStream, prevTopic uint64 }

func newSimPub(session uint64) *simPub {
	return &simPub{session: session, topics: map[string]*simTopic{}, enc: schema.NewEncoder(256)}
}

func (p *simPub) topic(name string) *simTopic {
	if p.topics[name] == nil {
		p.topics[name] = &simTopic{}
	}
	return p.topics[name]
}

func (p *simPub) encode(topic string, h schema.Header, ticks []schema.Tick) [][]byte {
	h.Session = p.session
	return [][]byte{[]byte(topic), bytes.Clone(p.enc.Encode(h, ticks))}
}

func (p *simPub) batch(name string, n int) [][]byte {
	tp := p.topic(name)
	p.stream++
	h := schema.Header{Type: schema.Batch, StreamSeq: p.stream, PrevStreamSeq: tp.prevStream, PrevTopicSeq: tp.prevTopic}
	ticks := make([]schema.Tick, n)
	for i := range ticks {
		seq := tp.seq + 1 + uint64(i)
		ticks[i] = schema.Tick{Seq: seq, Kind: schema.KindTrade, Price: 1000 + int64(seq), PriceExp: -2, Size: 1}
	}
	tp.prevStream, tp.prevTopic = p.stream, tp.seq
	tp.seq += uint64(n)
	return p.encode(name, h, ticks)
}

func (p *simPub) topicHeartbeat(name string) [][]byte {
	tp := p.topic(name)
	p.stream++
	h := schema.Header{Type: schema.TopicHeartbeat, StreamSeq: p.stream, TopicSeq: tp.seq,
		PrevStreamSeq: tp.prevStream, PrevTopicSeq: tp.prevTopic}
	tp.prevStream, tp.prevTopic = p.stream, tp.seq
	return p.encode(name, h, nil)
}

func (p *simPub) control(typ schema.MessageType, heartbeat time.Duration) [][]byte {
	p.stream++
	return p.encode(schema.ControlTopic, schema.Header{Type: typ, StreamSeq: p.stream, Heartbeat: int64(heartbeat)}, nil)
}

// setVersion rewrites the wire version of an encoded message.
func setVersion(body []byte, v byte) []byte {
	body = bytes.Clone(body)
	pos := binary.LittleEndian.Uint32(body)
	vt := int64(pos) - int64(int32(binary.LittleEndian.Uint32(body[pos:])))
	off := binary.LittleEndian.Uint16(body[vt+4:]) // slot 0: version
	body[int64(pos)+int64(off)] = v
	return body
}

var ruleTopics = []string{"AAPL", "AMZN", "MSFT", "MS", "IBM", "ZZZ"}

// newRuleScenario makes a seed's scenario: a publisher's session (and
// sometimes a restart, with stragglers of the old session after it), as a
// line brings it: joined late, lossy, with messages twice, runs of old
// messages again, and foreign and forged messages among them.
func newRuleScenario(seed uint64) ruleScenario {
	rng := rand.New(rand.NewPCG(seed, 0x7ea))
	sc := ruleScenario{prefixes: []string{""}, maxTopics: 100_000}
	if seed%2 == 1 {
		sc.prefixes = []string{"A", "M", "I"} // not ZZZ
	}
	if seed%3 == 2 {
		sc.maxTopics = 3
	}
	pub := newSimPub(rng.Uint64() | 1)
	var old *simPub
	var sent [][][]byte
	byTopic := map[string][]int{} // indexes in sent of each topic's batches
	steps := 200 + rng.IntN(300)
	restart := -1
	if rng.IntN(3) > 0 {
		restart = rng.IntN(steps)
	}
	for i := range steps {
		if i == restart {
			old, pub = pub, newSimPub(rng.Uint64()|1)
		}
		name := ruleTopics[rng.IntN(len(ruleTopics))]
		switch r := rng.IntN(100); {
		case r < 65:
			byTopic[name] = append(byTopic[name], len(sent))
			sent = append(sent, pub.batch(name, 1+rng.IntN(4)))
		case r < 80:
			sent = append(sent, pub.topicHeartbeat(name))
		case r < 90:
			sent = append(sent, pub.control(schema.Heartbeat, time.Second))
		case old != nil && i < restart+5:
			sent = append(sent, old.batch(name, 1+rng.IntN(3))) // the old session's last words, late
		default:
			sent = append(sent, pub.batch(name, 1))
		}
	}
	// Close: a heartbeat on every topic, then the end, three times each.
	for range 3 {
		for _, name := range ruleTopics {
			if pub.topics[name] != nil {
				sent = append(sent, pub.topicHeartbeat(name))
			}
		}
	}
	for range 3 {
		sent = append(sent, pub.control(schema.EndOfSession, time.Second))
	}

	// The line.
	join := rng.IntN(40)
	for i, m := range sent {
		if i < join {
			continue // sent before the subscriber joined
		}
		switch r := rng.IntN(1000); {
		case r < 90: // lost
		case r < 110: // twice
			sc.msgs = append(sc.msgs, m, m)
		case r < 125: // a topic's last batches again, in order: the sequence goes back
			name := ruleTopics[rng.IntN(len(ruleTopics))]
			idx := byTopic[name]
			k := min(len(idx), 1+rng.IntN(4))
			for _, j := range idx[len(idx)-k:] {
				if j < i {
					sc.msgs = append(sc.msgs, sent[j])
				}
			}
			sc.msgs = append(sc.msgs, m)
		case r < 135 && join > 0: // one sent before the subscriber joined, late: where it joined moves back
			sc.msgs = append(sc.msgs, sent[rng.IntN(join)], m)
		default:
			sc.msgs = append(sc.msgs, m)
		}
		if rng.IntN(100) < 5 {
			sc.msgs = append(sc.msgs, foreignMessage(rng, pub, m))
		}
	}
	return sc
}

// foreignMessage returns a message that is not what the publisher sent:
// malformed, foreign, or forged with implausible numbers. m is a message it
// did send.
func foreignMessage(rng *rand.Rand, pub *simPub, m [][]byte) [][]byte {
	name := ruleTopics[rng.IntN(len(ruleTopics))]
	enc := schema.NewEncoder(0)
	body := func(h schema.Header, ticks []schema.Tick) []byte {
		h.Session = pub.session
		return bytes.Clone(enc.Encode(h, ticks))
	}
	seq := uint64(1)
	if tp := pub.topics[name]; tp != nil {
		seq = tp.seq + 1
	}
	switch rng.IntN(13) {
	case 0:
		junk := make([]byte, rng.IntN(64))
		for i := range junk {
			junk[i] = byte(rng.Uint32())
		}
		return [][]byte{[]byte(name), junk}
	case 1:
		return [][]byte{[]byte(name)}
	case 2:
		return [][]byte{m[0], m[len(m)-1], []byte("third frame")}
	case 3:
		b := bytes.Clone(m[len(m)-1])
		copy(b[4:8], "XXXX")
		return [][]byte{m[0], b}
	case 4:
		return [][]byte{[]byte(schema.ControlTopic), body(schema.Header{Type: schema.Batch, StreamSeq: pub.stream}, []schema.Tick{{Seq: 1}})}
	case 5:
		b := m[len(m)-1]
		return [][]byte{m[0], b[:len(b)/2]}
	case 6: // a stream sequence further ahead than a publisher can go
		return [][]byte{[]byte(name), body(schema.Header{Type: schema.Batch, StreamSeq: pub.stream + 1<<40}, []schema.Tick{{Seq: seq}})}
	case 7: // a topic sequence further ahead than one message can take it
		return [][]byte{[]byte(name), body(schema.Header{Type: schema.Batch, StreamSeq: pub.stream + 1}, []schema.Tick{{Seq: seq + 1<<40}})}
	case 8: // heartbeat intervals out of range, and ignored
		hb := []int64{0, -5, int64(2 * time.Hour), int64(500 * time.Microsecond), int64(10 * time.Millisecond)}[rng.IntN(5)]
		return [][]byte{[]byte(schema.ControlTopic), body(schema.Header{Type: schema.Heartbeat, StreamSeq: pub.stream, Heartbeat: hb}, nil)}
	case 9:
		return [][]byte{[]byte(name), body(schema.Header{Type: schema.TopicHeartbeat, StreamSeq: pub.stream, TopicSeq: math.MaxUint64}, nil)}
	case 10:
		return [][]byte{[]byte(name), bytes.Clone(enc.EncodeRequest(&schema.Request{Kind: schema.ReplayRequest, Topic: []byte(name), From: 1, To: 2}))}
	case 11:
		return [][]byte{m[0], setVersion(body(schema.Header{Type: schema.Batch, StreamSeq: pub.stream}, []schema.Tick{{Seq: seq}}), 2)}
	default: // another publisher that took the same line for a moment
		h := schema.Header{Type: schema.Batch, Session: pub.session ^ 0xdead, StreamSeq: 1}
		return [][]byte{[]byte(name), bytes.Clone(enc.Encode(h, []schema.Tick{{Seq: 1}}))}
	}
}

// listSource is a line that brings a fixed list of messages, then fails.
type listSource struct {
	msgs   []port.Raw
	served bool
}

func (s *listSource) Endpoint() string         { return "replay" }
func (s *listSource) Subscribe([]byte) error   { return nil }
func (s *listSource) Unsubscribe([]byte) error { return nil }
func (s *listSource) Wake()                    {}
func (s *listSource) Close() error             { return nil }
func (s *listSource) Next(time.Time) (*port.Batch, error) {
	if s.served {
		return nil, io.EOF
	}
	s.served = true
	return &port.Batch{Time: time.Now(), Msgs: s.msgs}, nil
}

// ruleCounters are the counters both subscribers keep.
type ruleCounters struct {
	Received, Gaps, Missing, DecodeErrors, Implausible, Backwards, TopicsRefused, Filtered, Restarts uint64
}

// goRules runs the Go subscriber on a scenario: its events, in the form
// pyRules gives the Python reader's, and its counters.
func goRules(t *testing.T, sc ruleScenario) ([]string, ruleCounters) {
	t.Helper()
	src := &listSource{}
	for _, m := range sc.msgs {
		raw := port.Raw{Topic: m[0], Frames: len(m)}
		if len(m) > 1 {
			raw.Body = m[1]
		}
		for _, f := range m {
			raw.Size += len(f)
		}
		src.msgs = append(src.msgs, raw)
	}
	sub, err := subscriber.New(context.Background(), subscriber.WithSource(src), subscriber.WithTopics(sc.prefixes...),
		subscriber.WithMaxTopics(sc.maxTopics), subscriber.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var log []string
	for {
		ev, err := sub.Next(context.Background())
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("Next: %v", err)
			}
			break
		}
		switch ev.Kind {
		case subscriber.EventTicks:
			for _, tk := range ev.Ticks {
				log = append(log, fmt.Sprintf("tick %s #%d", ev.Topic, tk.Seq))
			}
		case subscriber.EventGap:
			log = append(log, fmt.Sprintf("gap %s %d..%d (%d) heartbeat=%v", ev.Topic, ev.Gap.Expected, ev.Gap.Received, ev.Gap.Missing, ev.Gap.Heartbeat))
		case subscriber.EventBackwards:
			log = append(log, fmt.Sprintf("backwards %s %d to %d", ev.Topic, ev.Gap.Expected, ev.Gap.Received))
		case subscriber.EventSessionStart:
			log = append(log, fmt.Sprintf("session %016x after %016x", ev.Session, ev.PrevSession))
		case subscriber.EventSessionEnd:
			log = append(log, fmt.Sprintf("end %016x", ev.Session))
		case subscriber.EventTopicLimit:
			log = append(log, fmt.Sprintf("topic limit %016x", ev.Session))
		}
	}
	st := sub.Stats()
	return log, ruleCounters{Received: st.Ticks, Gaps: st.Gaps, Missing: st.Missing, DecodeErrors: st.Total.DecodeErrors,
		Implausible: st.Total.Implausible, Backwards: st.Total.Backwards, TopicsRefused: st.Total.TopicsRefused,
		Filtered: st.Total.Filtered, Restarts: st.Total.Restarts}
}

// pyRules runs the Python reader on a scenario (tickcast_reader.py
// --replay): its events and counters.
func pyRules(t *testing.T, sc ruleScenario) ([]string, ruleCounters) {
	t.Helper()
	var file bytes.Buffer
	for _, m := range sc.msgs {
		hexes := make([]string, len(m))
		for i, f := range m {
			hexes[i] = hex.EncodeToString(f)
		}
		js, _ := json.Marshal(hexes)
		file.Write(append(js, '\n'))
	}
	path := filepath.Join(t.TempDir(), "msgs")
	if err := os.WriteFile(path, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{pyReader, "--replay", path, "--json", "--max-topics", strconv.Itoa(sc.maxTopics)}
	for _, p := range sc.prefixes {
		args = append(args, "--topic", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Env = append(os.Environ(), pyNoCache...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tickcast_reader.py --replay: %v\n%s", err, stderr.String())
	}
	var log []string
	var c ruleCounters
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var ev struct {
			Type, Topic, Session                       string
			PreviousSession                            string `json:"previous_session"`
			Seq, Expected, Received, Missing, From, To uint64
			ByHeartbeat                                bool `json:"by_heartbeat"`
			Gaps, Implausible, Backwards, Restarts     uint64
			DecodeErrors                               uint64 `json:"decode_errors"`
			TopicsRefused                              uint64 `json:"topics_refused"`
			Lines                                      []struct{ Filtered uint64 }
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("tickcast_reader.py printed %q: %v", l, err)
		}
		prev := ev.PreviousSession
		if prev == "" {
			prev = "0000000000000000"
		}
		switch ev.Type {
		case "tick":
			log = append(log, fmt.Sprintf("tick %s #%d", ev.Topic, ev.Seq))
		case "gap":
			log = append(log, fmt.Sprintf("gap %s %d..%d (%d) heartbeat=%v", ev.Topic, ev.Expected, ev.Received, ev.Missing, ev.ByHeartbeat))
		case "backwards":
			log = append(log, fmt.Sprintf("backwards %s %d to %d", ev.Topic, ev.From, ev.To))
		case "session_start":
			log = append(log, fmt.Sprintf("session %s after %s", ev.Session, prev))
		case "session_end":
			log = append(log, fmt.Sprintf("end %s", ev.Session))
		case "topic_limit":
			log = append(log, fmt.Sprintf("topic limit %s", ev.Session))
		case "summary":
			c = ruleCounters{Received: ev.Received, Gaps: ev.Gaps, Missing: ev.Missing, DecodeErrors: ev.DecodeErrors,
				Implausible: ev.Implausible, Backwards: ev.Backwards, TopicsRefused: ev.TopicsRefused, Restarts: ev.Restarts}
			if len(ev.Lines) == 1 {
				c.Filtered = ev.Lines[0].Filtered
			}
		}
	}
	return log, c
}

// TestPythonReaderFollowsTheGoRules runs the Go subscriber and the Python
// reader on the same crafted lines and wants the same events, in the same
// order, and the same counters: what a gap is (by a later tick, or by a
// topic heartbeat after the last ticks were lost), late join (including
// the loss a message's predecessor reveals), restarts and stragglers of an
// old session, the end, sequences that go back (and are followed after
// three messages), the topic limit, filtering, and every malformed,
// foreign and implausible message counted as the Go subscriber counts it.
func TestPythonReaderFollowsTheGoRules(t *testing.T) {
	needPythonFlatbuffers(t)
	var total ruleCounters
	var heartbeatGaps, joinGaps, limits int
	for seed := uint64(1); seed <= 24; seed++ {
		sc := newRuleScenario(seed)
		goLog, goCount := goRules(t, sc)
		pyLog, pyCount := pyRules(t, sc)
		if i := firstDifference(goLog, pyLog); i >= 0 {
			lo := max(i-5, 0)
			t.Fatalf("seed %d: the Python reader's events differ from the Go subscriber's at event %d of %d/%d:\nGo:\n  %s\nPython:\n  %s",
				seed, i, len(goLog), len(pyLog),
				strings.Join(goLog[lo:min(i+5, len(goLog))], "\n  "), strings.Join(pyLog[lo:min(i+5, len(pyLog))], "\n  "))
		}
		if goCount != pyCount {
			t.Fatalf("seed %d: counters differ:\nGo     %+v\nPython %+v", seed, goCount, pyCount)
		}
		for _, l := range goLog {
			switch {
			case strings.HasSuffix(l, "heartbeat=true"):
				heartbeatGaps++
			case strings.HasPrefix(l, "topic limit"):
				limits++
			}
		}
		joinGaps += countJoinGaps(goLog)
		total.Received += goCount.Received
		total.Gaps += goCount.Gaps
		total.Missing += goCount.Missing
		total.DecodeErrors += goCount.DecodeErrors
		total.Implausible += goCount.Implausible
		total.Backwards += goCount.Backwards
		total.TopicsRefused += goCount.TopicsRefused
		total.Filtered += goCount.Filtered
		total.Restarts += goCount.Restarts
	}
	t.Logf("24 lines: %+v; %d gaps revealed by topic heartbeats, %d on joining a topic, %d topic limits",
		total, heartbeatGaps, joinGaps, limits)
	// The scenarios must have exercised every rule, or the agreement means little.
	for what, n := range map[string]uint64{"ticks": total.Received, "gaps": total.Gaps, "decode errors": total.DecodeErrors,
		"implausible messages": total.Implausible, "backwards ticks": total.Backwards, "refused topics": total.TopicsRefused,
		"filtered messages": total.Filtered, "heartbeat gaps": uint64(heartbeatGaps), "restarts": total.Restarts,
		"topic limits": uint64(limits), "gaps on joining a topic": uint64(joinGaps)} {
		if n == 0 {
			t.Errorf("the scenarios had no %s", what)
		}
	}
}

// countJoinGaps counts the gaps reported on a topic's first event of a
// session: the loss that a late joiner learns from a message's predecessor.
func countJoinGaps(log []string) int {
	n := 0
	seen := map[string]bool{}
	for _, l := range log {
		f := strings.Fields(l)
		switch f[0] {
		case "session":
			clear(seen)
		case "tick", "gap", "backwards":
			if f[0] == "gap" && !seen[f[1]] {
				n++
			}
			seen[f[1]] = true
		}
	}
	return n
}

func firstDifference(a, b []string) int {
	for i := range max(len(a), len(b)) {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return -1
}
