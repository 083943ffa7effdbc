package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/subscriber"
)

// BenchmarkTCPThroughput measures ticks delivered per second from one
// publisher to one subscriber over TCP loopback, in one process: b.N ticks
// published 128 at a time (PublishBatch) on 50 topics, with the publisher's
// max batch (ticks per message) swept, read until the last arrives. Loss is
// reported as a metric; a run with loss is not a clean throughput figure.
func BenchmarkTCPThroughput(b *testing.B) {
	const batch = 128
	for _, maxBatch := range []int{1, 8, 32, 128} {
		b.Run(fmt.Sprint("maxbatch=", maxBatch), func(b *testing.B) {
			sink, err := endpoint.Sink("tcp://127.0.0.1:0", endpoint.WithSendHWM(1<<16))
			if err != nil {
				b.Fatal(err)
			}
			pub, err := publisher.New(publisher.WithSink(sink), publisher.WithMaxBatch(maxBatch))
			if err != nil {
				b.Fatal(err)
			}
			src, _ := endpoint.Source(sink.Stats().Endpoint)
			sub, err := subscriber.New(context.Background(), subscriber.WithSource(src), subscriber.WithStaleAfter(time.Hour))
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Close()
			for { // wait for the session: the subscriber is in
				ev, err := sub.Next(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if ev.Kind == subscriber.EventSessionStart {
					break
				}
			}
			topics := make([]*publisher.Topic, 50)
			for i := range topics {
				topics[i] = pub.Topic(fmt.Sprint("SYM", i))
			}
			ticks := make([]schema.Tick, batch)
			b.ReportAllocs()
			b.ResetTimer()
			go func() {
				for i := 0; i < b.N; i += batch {
					n := min(batch, b.N-i)
					for rest := ticks[:n]; len(rest) > 0; {
						k, _ := topics[(i/batch)%50].PublishBatch(rest)
						if rest = rest[k:]; len(rest) > 0 {
							time.Sleep(10 * time.Microsecond)
						}
					}
				}
				pub.Close()
			}()
			var got uint64
			for {
				ev, err := sub.Next(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if ev.Kind == subscriber.EventTicks {
					got += uint64(len(ev.Ticks))
				}
				if ev.Kind == subscriber.EventSessionEnd {
					break
				}
			}
			b.StopTimer()
			st := sub.Stats()
			b.ReportMetric(float64(got)/b.Elapsed().Seconds(), "ticks/s")
			b.ReportMetric(float64(st.Missing), "missing")
			b.ReportMetric(float64(st.Ticks)/float64(max(st.Total.Messages, 1)), "ticks/msg")
		})
	}
}

// BenchmarkZmq4OneTickPerMessage is the naive Go baseline: go-zeromq/zmq4's
// own PUB and SUB sockets, one tick per message, each message a fresh
// buffer (zmq4 keeps the caller's buffers). It measures messages (= ticks)
// delivered per second; zmq4's PUB queue is unbounded, so nothing is lost,
// the publisher just runs ahead.
func BenchmarkZmq4OneTickPerMessage(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub := zmq4.NewPub(ctx)
	defer pub.Close()
	if err := pub.Listen("tcp://127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	sub := zmq4.NewSub(ctx)
	defer sub.Close()
	if err := sub.Dial("tcp://" + pub.Addr().String()); err != nil {
		b.Fatal(err)
	}
	sub.SetOption(zmq4.OptionSubscribe, "")
	enc := schema.NewEncoder(0)
	one := []schema.Tick{{}}
	// Wait for the subscription to reach the PUB: warm-up messages until
	// one arrives (those sent before it are dropped by the PUB).
	warm := make(chan struct{})
	go func() {
		for {
			select {
			case <-warm:
				return
			case <-time.After(time.Millisecond):
				pub.Send(zmq4.NewMsgFrom([]byte("warm"), []byte("up")))
			}
		}
	}()
	if _, err := sub.Recv(); err != nil {
		b.Fatal(err)
	}
	close(warm)
	b.ResetTimer()
	go func() {
		for i := range b.N {
			one[0].Seq = uint64(i + 1)
			body := append([]byte(nil), enc.Encode(schema.Header{Type: schema.Batch, Session: 1}, one)...)
			pub.Send(zmq4.NewMsgFrom([]byte("SYM"), body))
		}
	}()
	var m schema.Message
	for got := 0; got < b.N; {
		msg, err := sub.Recv()
		if err != nil {
			b.Fatal(err)
		}
		if string(msg.Frames[0]) != "SYM" {
			continue
		}
		if err := m.Decode(msg.Frames[1]); err != nil {
			b.Fatal(err)
		}
		got++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ticks/s")
}
