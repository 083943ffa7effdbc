package inproc_test

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickcast/tickcast/inproc"
	"github.com/tickcast/tickcast/port"
)

// body fills buf with a pattern of seq: a reader can tell whether the bytes
// it holds are still those of message seq.
func body(buf []byte, seq uint64) []byte {
	binary.LittleEndian.PutUint64(buf, seq)
	for i := 8; i+8 <= len(buf); i += 8 {
		binary.LittleEndian.PutUint64(buf[i:], seq*0x9e3779b97f4a7c15+uint64(i))
	}
	return buf
}

func checkBody(b []byte) (seq uint64, ok bool) {
	if len(b) < 8 {
		return 0, false
	}
	seq = binary.LittleEndian.Uint64(b)
	for i := 8; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:]) != seq*0x9e3779b97f4a7c15+uint64(i) {
			return seq, false
		}
	}
	return seq, true
}

// Buffers go back to the pool only once every subscriber that got them has
// called Next again: a batch stays intact until then, while the publisher
// keeps sending and reusing buffers. Each subscriber checks its whole batch
// once more just before asking for the next one; the race detector watches
// the bytes too.
func TestABatchStaysIntactUntilTheNextCall(t *testing.T) {
	t.Parallel()
	const total = 30_000
	ns := inproc.NewNamespace()
	p := listen(t, ns, "feed", inproc.WithSendHWM(1_000_000), inproc.WithSendBuffer(1<<30))
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i, prefix := range []string{"", "", "T1"} { // two take everything, one half
		s := dial(t, ns, "feed", prefix)
		wg.Go(func() {
			want := uint64(0)
			var held *port.Batch
			for want < total {
				if held != nil {
					for _, m := range held.Msgs {
						if _, ok := checkBody(m.Body); !ok {
							errs <- fmt.Errorf("subscriber %d: a message changed before the next call to Next", i)
							return
						}
					}
				}
				b, err := s.Next(time.Now().Add(10 * time.Second))
				if err != nil || len(b.Msgs)+len(b.Events) == 0 {
					errs <- fmt.Errorf("subscriber %d: %v, at %d of %d", i, err, want, total)
					return
				}
				for _, m := range b.Msgs {
					seq, ok := checkBody(m.Body)
					if prefix == "T1" && want%2 == 0 {
						want++
					}
					if !ok || seq != want {
						errs <- fmt.Errorf("subscriber %d: message %d (intact: %v), want %d", i, seq, ok, want)
						return
					}
					want++
				}
				held = b
			}
		})
	}
	buf := make([]byte, 256)
	for seq := range uint64(total) {
		n := 8 * (1 + int(seq%32)) // sizes across several classes
		if err := p.Send(port.Message{Topic: fmt.Appendf(nil, "T%d", seq%2), Body: body(buf[:n], seq)}); err != nil {
			t.Fatal(err)
		}
		if seq%7 == 0 {
			p.Flush()
		}
	}
	p.Flush()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := p.Stats(); st.Dropped != 0 {
		t.Fatalf("%d dropped", st.Dropped)
	}
}

// A message that no subscriber takes is not even copied.
func TestAMessageNobodySubscribedToCostsNothing(t *testing.T) {
	ns := inproc.NewNamespace()
	p := listen(t, ns, "feed")
	for range 4 {
		dial(t, ns, "feed", "AAPL")
	}
	m := port.Message{Topic: []byte("MSFT"), Body: make([]byte, 200)}
	if n := testing.AllocsPerRun(1000, func() { p.Send(m) }); n != 0 {
		t.Fatalf("%v allocations per unsubscribed message", n)
	}
}

// A steady feed allocates nothing per message: buffers come back to the
// pool once read, and queues trade storage with batches.
func TestASteadyFeedAllocatesNothingPerMessage(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers")
	}
	ns := inproc.NewNamespace()
	p := listen(t, ns, "feed")
	subs := []*inproc.Sub{dial(t, ns, "feed", ""), dial(t, ns, "feed", "")}
	m := port.Message{Topic: []byte("AAPL"), Body: make([]byte, 200)}
	round := func() {
		for range 64 {
			p.Send(m)
		}
		p.Flush()
		for _, s := range subs {
			s.Next(time.Now())
		}
	}
	for range 10 {
		round() // warm up: queues grow to their size, pools fill
	}
	if n := testing.AllocsPerRun(100, round) / 64; n > 0.05 {
		t.Fatalf("%.3f allocations per message", n)
	}
}

// BenchmarkSendNext: one message of 200 bytes sent to every subscriber and
// taken by each, in one goroutine (Next every 64 messages, as a busy
// subscriber would take them): the transport's own cost, per message.
func BenchmarkSendNext(b *testing.B) {
	for _, subs := range []int{1, 4} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			ns := inproc.NewNamespace()
			p, _ := inproc.Listen("inproc://bench", inproc.WithNamespace(ns))
			defer p.Close()
			var ss []*inproc.Sub
			for range subs {
				s, _ := inproc.Dial("inproc://bench", inproc.WithNamespace(ns))
				s.Subscribe(nil)
				defer s.Close()
				ss = append(ss, s)
			}
			m := port.Message{Topic: []byte("AAPL"), Body: make([]byte, 196)}
			b.SetBytes(200)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				p.Send(m)
				if i++; i%64 == 0 {
					p.Flush()
					for _, s := range ss {
						s.Next(time.Now())
					}
				}
			}
			if st := p.Stats(); st.Dropped != 0 {
				b.Fatalf("%d dropped", st.Dropped)
			}
		})
	}
}

// BenchmarkConcurrent: the publisher sends and flushes each message, as a
// publisher on an idle feed does, while each subscriber reads in its own
// goroutine, blocking in Next: the hand-over between goroutines included.
// The publisher never gets more than half the high-water mark ahead of the
// slowest subscriber, so that every message is delivered: ns/op is the cost
// of a message delivered to every subscriber.
func BenchmarkConcurrent(b *testing.B) {
	for _, subs := range []int{1, 4} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			ns := inproc.NewNamespace()
			p, _ := inproc.Listen("inproc://bench", inproc.WithNamespace(ns))
			var wg sync.WaitGroup
			var ss []*inproc.Sub
			got := make([]atomic.Int64, subs)
			for i := range subs {
				s, _ := inproc.Dial("inproc://bench", inproc.WithNamespace(ns))
				s.Subscribe(nil)
				ss = append(ss, s)
				wg.Go(func() {
					for {
						b, err := s.Next(time.Time{})
						if err != nil {
							return
						}
						got[i].Add(int64(len(b.Msgs)))
					}
				})
			}
			behind := func(sent int64) bool {
				for i := range got {
					if sent-got[i].Load() > inproc.DefaultSendHWM/2 {
						return true
					}
				}
				return false
			}
			m := port.Message{Topic: []byte("AAPL"), Body: make([]byte, 196)}
			b.SetBytes(200)
			b.ReportAllocs()
			var sent int64
			for b.Loop() {
				p.Send(m)
				p.Flush()
				if sent++; sent%256 == 0 {
					for behind(sent) {
						runtime.Gosched()
					}
				}
			}
			for i := range got {
				for got[i].Load() < sent {
					runtime.Gosched()
				}
			}
			b.StopTimer()
			if st := p.Stats(); st.Dropped != 0 {
				b.Fatalf("%d dropped", st.Dropped)
			}
			p.Close()
			for _, s := range ss {
				s.Close()
			}
			wg.Wait()
		})
	}
}

// A message too large for the pools (over 64 KiB) has a buffer of its own,
// shared by its subscribers all the same.
func TestALargeMessageIsSharedToo(t *testing.T) {
	t.Parallel()
	ns := inproc.NewNamespace()
	p := listen(t, ns, "feed")
	a, b := dial(t, ns, "feed", ""), dial(t, ns, "feed", "")
	big := body(make([]byte, 100<<10), 42)
	p.Send(port.Message{Topic: []byte("T"), Body: big})
	p.Flush()
	clear(big)
	ba, bb := nextWithin(t, a), nextWithin(t, b)
	if seq, ok := checkBody(ba.Msgs[0].Body); !ok || seq != 42 || len(ba.Msgs[0].Body) != 100<<10 {
		t.Fatalf("the large message arrived as %d bytes, message %d, intact: %v", len(ba.Msgs[0].Body), seq, ok)
	}
	if &ba.Msgs[0].Body[0] != &bb.Msgs[0].Body[0] {
		t.Fatal("each subscriber has a copy of its own")
	}
}
