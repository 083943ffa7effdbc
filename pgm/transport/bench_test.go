package transport

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/source"
)

// countFeeder hands out n APDUs of size bytes, written in place: no
// allocation on the feeding side.
type countFeeder struct {
	mu   sync.Mutex
	left int
	size int
}

func (f *countFeeder) Fill(dst [][]byte) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := 0
	for k < len(dst) && f.left > 0 {
		d := dst[k][:f.size]
		d[0], d[1] = 0, 0
		dst[k] = d
		f.left--
		k++
	}
	return k
}

// countConsumer counts data and lost sqns without keeping anything.
type countConsumer struct {
	data, lost atomic.Int64
	bytes      int64
}

func (c *countConsumer) Room() bool { return true }
func (c *countConsumer) Consume(_ time.Time, ev *receiver.Event) {
	switch ev.Kind {
	case receiver.EventData:
		c.data.Add(1)
		c.bytes += int64(len(ev.Payload))
	case receiver.EventLoss:
		c.lost.Add(int64(ev.Count))
	}
}
func (c *countConsumer) Flush(time.Time) {}

// BenchmarkLoopback sends b.N full APDUs from a Sender to a Receiver over
// EPGM on loopback, without a rate limit: the send loop (sendmmsg) and the
// receive loop (recvmmsg, receiver, consumer) in one process. An op is one
// packet; allocs/op should be 0.
func BenchmarkLoopback(b *testing.B) {
	ep := testEndpoint(&testing.T{}, "epgm")
	c := &countConsumer{}
	rcv, err := NewReceiver(b.Context(), ep, ReceiverConfig{Receiver: receiver.Config{WindowSQNs: 1 << 16}}, c)
	if err != nil {
		b.Fatal(err)
	}
	defer rcv.Close()
	f := &countFeeder{size: ep.Network.MaxAPDU()}
	snd, err := NewSender(b.Context(), ep, SenderConfig{Source: source.Config{Rate: -1, WindowSQNs: 1 << 16}}, f)
	if err != nil {
		b.Fatal(err)
	}
	defer snd.Close(0)
	// Warm up: every window slot and buffer used once.
	warm := int64(70000)
	f.mu.Lock()
	f.left = int(warm)
	f.mu.Unlock()
	snd.Wake()
	for c.data.Load()+c.lost.Load() < warm {
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	b.SetBytes(int64(f.size))
	b.ResetTimer()
	f.mu.Lock()
	f.left = b.N
	f.mu.Unlock()
	snd.Wake()
	for c.data.Load()+c.lost.Load() < warm+int64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	b.ReportMetric(float64(c.lost.Load()), "lost")
}

// BenchmarkSend is the send loop alone: b.N full APDUs to a group nobody
// joined.
func BenchmarkSend(b *testing.B) {
	ep := testEndpoint(&testing.T{}, "epgm")
	f := &countFeeder{size: ep.Network.MaxAPDU()}
	snd, err := NewSender(b.Context(), ep, SenderConfig{Source: source.Config{Rate: -1, WindowSQNs: 1 << 16}}, f)
	if err != nil {
		b.Fatal(err)
	}
	defer snd.Close(0)
	run := func(n int) {
		f.mu.Lock()
		f.left = n
		f.mu.Unlock()
		snd.Wake()
		for {
			f.mu.Lock()
			left := f.left
			f.mu.Unlock()
			if left == 0 && snd.Stats().Unsent == 0 {
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	run(70000)
	b.ReportAllocs()
	b.SetBytes(int64(f.size))
	b.ResetTimer()
	run(b.N)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}
