package zmq

import (
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/source"
	"github.com/tickcast/tickcast/pgm/transport"
)

// BenchmarkPubSub64 sends b.N messages [topic, 64-byte body] from a Pub to
// a Sub over EPGM on loopback, in one process, without a rate limit: about
// 19 messages per APDU. An op is one message; allocs/op should be 0.
func BenchmarkPubSub64(b *testing.B) {
	pub, sub := newPair(&testing.T{}, "epgm",
		PubConfig{Sender: transport.SenderConfig{Source: source.Config{Rate: -1, WindowSQNs: 1 << 15}}},
		SubConfig{Receiver: transport.ReceiverConfig{Receiver: receiver.Config{WindowSQNs: 1 << 15}}})
	defer pub.Close()
	defer sub.Close()
	sub.Subscribe([]byte("T"))
	topic, body := []byte("TICK.X"), make([]byte, 64)
	got := 0
	send := func(n int) {
		for i := 0; i < n; i++ {
			for pub.Send(topic, body) == ErrBacklogFull {
				pub.Flush()
				time.Sleep(10 * time.Microsecond)
			}
		}
		pub.Flush()
	}
	recv := func(n int) {
		for got < n {
			bt, err := sub.Next(time.Now().Add(5 * time.Second))
			if err != nil || len(bt.Msgs)+len(bt.Events) == 0 {
				b.Fatalf("received %d of %d: %v %+v", got, n, err, sub.Stats())
			}
			got += len(bt.Msgs)
			for _, e := range bt.Events {
				if e.Kind == Loss {
					b.Fatalf("loss %+v", e)
				}
			}
		}
	}
	go send(200000) // warm-up: buffers and windows grow to size
	recv(200000)
	b.ReportAllocs()
	b.SetBytes(int64(len(topic) + len(body)))
	b.ResetTimer()
	go send(b.N)
	recv(200000 + b.N)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
