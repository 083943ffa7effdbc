package recovery

// Benchmarks of the recovery service's hot paths: keeping what is published
// (History.Add, and Server.Send, its lock and copy, which a publisher calls
// for every message) and answering a replay (History.Replay). Run with
//
//	go test -run '^$' -bench . -benchmem ./recovery
//
// Results, and the machine they came from, are in docs/recovery.md.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/schema"
)

// liveBatch is one encoded Batch message whose tick sequence numbers are
// rewritten in place before each use, so that a benchmark can add the next
// message of a topic for ever without encoding it (the encoder is
// benchmarked in package schema) and without holding millions of them.
type liveBatch struct {
	body []byte
	at   int // offset of the first tick's Seq in body
	n    int
}

// newLiveBatch encodes a batch of n ticks on session 7.
func newLiveBatch(tb testing.TB, n int) *liveBatch {
	tb.Helper()
	const marker = 0x5eed_5eed_5eed_5eed
	ticks := make([]schema.Tick, n)
	for i := range ticks {
		ticks[i] = schema.Tick{Price: marker, Size: 100, Seq: uint64(i + 1), Kind: schema.KindTrade}
	}
	body := bytes.Clone(schema.NewEncoder(64).Encode(schema.Header{Type: schema.Batch, Session: 7, StreamSeq: 1}, ticks))
	// A Tick is a 40-byte struct, Price at 0, Seq at 16 (tick.fbs); the
	// vector's first one is where the marker price is.
	var want [24]byte
	binary.LittleEndian.PutUint64(want[0:], marker)
	binary.LittleEndian.PutUint64(want[8:], 100)
	binary.LittleEndian.PutUint64(want[16:], 1)
	at := bytes.Index(body, want[:])
	if at < 0 {
		tb.Fatal("the first tick is not where it should be")
	}
	lb := &liveBatch{body: body, at: at + 16, n: n}
	lb.setFirst(1)
	return lb
}

// setFirst numbers the ticks first, first+1, ...
func (lb *liveBatch) setFirst(first uint64) {
	for i := range lb.n {
		binary.LittleEndian.PutUint64(lb.body[lb.at+i*schema.TickSize:], first+uint64(i))
	}
}

// check that the batch decodes to first..first+n-1.
func (lb *liveBatch) check(tb testing.TB, first uint64) {
	tb.Helper()
	var m schema.Message
	if err := m.Decode(lb.body); err != nil || m.Len() != lb.n || m.Tick(0).Seq != first || m.Tick(lb.n-1).Seq != first+uint64(lb.n)-1 {
		tb.Fatalf("the rewritten batch: %v, %d ticks", err, m.Len())
	}
}

// BenchmarkHistoryAdd keeps messages of 1 and 32 ticks on one topic, in a
// History bounded to 4 MiB so that eviction runs all along: ns/op is per
// message, ns/tick per tick. Rewriting the batch's sequence numbers (one
// store per tick) is counted in.
func BenchmarkHistoryAdd(b *testing.B) {
	for _, n := range []int{1, 32} {
		b.Run(fmt.Sprintf("ticks=%d", n), func(b *testing.B) {
			lb := newLiveBatch(b, n)
			topic := []byte("AAPL")
			h := NewHistory(time.Hour, 4*chunkSize, 0)
			next := uint64(1)
			add := func() {
				lb.setFirst(next)
				h.Add(topic, lb.body, t0)
				next += uint64(n)
			}
			// Past the byte bound, so that every Add evicts, and long
			// enough for the arena and the indexes to reach their size.
			for st := h.Stats(); st.Evicted == 0 || st.Evicted < 2*uint64(st.Messages); st = h.Stats() {
				add()
			}
			lb.check(b, next-uint64(n))
			before := h.Stats()
			b.SetBytes(int64(len(topic) + len(lb.body)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				add()
			}
			b.StopTimer()
			st := h.Stats()
			if st.Added-before.Added != uint64(b.N) || st.Evicted == before.Evicted && b.N > 1000 {
				b.Fatalf("added %d, evicted %d of %d", st.Added-before.Added, st.Evicted-before.Evicted, b.N)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/tick")
		})
	}
}

// BenchmarkServerRecord is History.Add through Server.Send, as a publisher
// calls it for every message: the counters, the clock, the lock and the
// copy into the arena.
func BenchmarkServerRecord(b *testing.B) {
	for _, n := range []int{1, 32} {
		b.Run(fmt.Sprintf("ticks=%d", n), func(b *testing.B) {
			lb := newLiveBatch(b, n)
			s, err := NewServer("tcp://127.0.0.1:0", WithRetention(time.Hour, 4*chunkSize))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var sink port.Sink = s
			m := port.Message{Topic: []byte("AAPL"), Body: lb.body}
			next := uint64(1)
			send := func() {
				lb.setFirst(next)
				sink.Send(m)
				next += uint64(n)
			}
			for st := s.ServerStats().History; st.Evicted == 0 || st.Evicted < 2*uint64(st.Messages); st = s.ServerStats().History {
				for range 1000 {
					send()
				}
			}
			b.SetBytes(int64(len(m.Topic) + len(m.Body)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				send()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/tick")
		})
	}
}

// BenchmarkReplay answers replays of 100 messages (of 32 ticks) from a
// History holding 10,000 of them on the topic, each replay starting
// elsewhere; the result slice is reused, as Server reuses it.
func BenchmarkReplay(b *testing.B) {
	const held, per, msgs = 10_000, 32, 100
	lb := newLiveBatch(b, per)
	h := NewHistory(time.Hour, 0, 0)
	for i := range held {
		lb.setFirst(uint64(i*per + 1))
		h.Add([]byte("AAPL"), lb.body, t0)
		h.Add([]byte("MSFT"), lb.body, t0) // another topic in between
	}
	var dst []Msg
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		from := uint64((i*7919)%(held-msgs))*per + 1
		res, out := h.Replay([]byte("AAPL"), from, from+msgs*per-1, Limits{Messages: DefaultReplyMessages, Bytes: DefaultReplyBytes}, t0, dst[:0])
		if res.Status != schema.ReplyOK || len(out) != msgs {
			b.Fatalf("%+v, %d messages", res, len(out))
		}
		dst = out
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/msgs, "ns/msg")
}

// BenchmarkSnapshot takes snapshots from a History of 100,000 topics
// (DefaultMaxTopics), with the Server's matching: of 1,024 prefixes (the
// most a request may have) that match 1,024 topics, and of every topic (no
// prefix). This is how long a Server holds its lock for such a request,
// while Send (the publisher's sending goroutine, inside pub --recovery)
// waits.
func BenchmarkSnapshot(b *testing.B) {
	lb := newLiveBatch(b, 1)
	h := NewHistory(time.Hour, 0, 0)
	for i := range DefaultMaxTopics {
		h.Add(fmt.Appendf(nil, "SYM%06d", i), lb.body, t0)
	}
	some := make([][]byte, schema.MaxPrefixes)
	for i := range some {
		some[i] = fmt.Appendf(nil, "SYM%06d", i*97)
	}
	// What the Server does under its lock: copy every last value out.
	b.Run("under-the-lock", func(b *testing.B) {
		var dst []LastValue
		b.ReportAllocs()
		for range b.N {
			dst = h.LastValues(dst[:0])
		}
	})
	for _, bc := range []struct {
		name     string
		prefixes [][]byte
		want     int
	}{
		{"prefixes=1024", some, len(some)},
		{"prefixes=none", nil, DefaultMaxTopics},
	} {
		b.Run(bc.name, func(b *testing.B) {
			// As Server.snapshot matches, without a cursor.
			match := func(topic []byte) bool {
				if len(bc.prefixes) == 0 {
					return true
				}
				for _, p := range bc.prefixes {
					if bytes.HasPrefix(topic, p) {
						return true
					}
				}
				return false
			}
			var dst []LastValue
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				dst = h.Snapshot(match, dst[:0])
				if len(dst) != bc.want {
					b.Fatalf("%d last values", len(dst))
				}
			}
		})
	}
}
