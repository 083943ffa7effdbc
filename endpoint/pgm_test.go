package endpoint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/pgmline"
	"github.com/tickcast/tickcast/pgm/transport"
	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/subscriber"
)

func TestPGMEndpointErrors(t *testing.T) {
	for _, ep := range []string{
		"epgm://127.0.0.1:5555",            // no group
		"epgm://;239.192.1.1:5555",         // no interface: never let the OS choose
		"epgm://127.0.0.1;10.0.0.1:5555",   // not multicast
		"epgm://127.0.0.1;239.192.1.1:0",   // port 0, as libzmq
		"epgm://127.0.0.1;239.192.1.1",     // no port
		"pgm://nosuchif0;239.192.1.1:5555", // unknown interface
		"epgm://127.0.0.1;239.192.1.1;239.192.1.2:5555",
	} {
		if _, err := Sink(ep); !errors.Is(err, transport.ErrEndpoint) {
			t.Errorf("Sink(%q): %v, want ErrEndpoint", ep, err)
		}
		if _, err := Source(ep); !errors.Is(err, transport.ErrEndpoint) {
			t.Errorf("Source(%q): %v, want ErrEndpoint", ep, err)
		}
	}
}

var pgmPort = 23000 + os.Getpid()%900 // a range of its own per package

// TestPGMFeed publishes a feed through endpoint.Sink and reads it through
// endpoint.Source, over EPGM and raw PGM on loopback: every tick, in order,
// with the topic filter applied.
func TestPGMFeed(t *testing.T) {
	for _, network := range []string{"epgm", "pgm"} {
		t.Run(network, func(t *testing.T) {
			pgmPort++
			ep := fmt.Sprintf("%s://lo;239.192.9.%d:%d", network, pgmPort%200+1, pgmPort)
			src, err := Source(ep)
			if err != nil {
				t.Fatal(err)
			}
			sub, err := subscriber.New(context.Background(), subscriber.WithSource(src), subscriber.WithTopics("A"))
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			sink, err := Sink(ep)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := publisher.New(publisher.WithSink(sink), publisher.WithHeartbeat(20*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			const n = 21000
			for i := range n {
				tp := []string{"A", "B", "AB"}[i%3]
				if err := pub.Topic(tp).Publish(schema.Tick{Price: int64(i)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := pub.Close(); err != nil {
				t.Fatal(err)
			}
			got := map[string][]uint64{}
			timer := time.AfterFunc(20*time.Second, func() { sub.Close() })
			defer timer.Stop()
			lineUp := false
		read:
			for {
				ev, err := sub.Next(context.Background())
				if err != nil {
					t.Fatalf("Next: %v; got %d+%d ticks; subscriber %+v", err, len(got["A"]), len(got["AB"]), sub.Stats())
				}
				switch ev.Kind {
				case subscriber.EventTicks:
					for _, tk := range ev.Ticks {
						got[string(ev.Topic)] = append(got[string(ev.Topic)], tk.Seq)
					}
				case subscriber.EventLineUp:
					lineUp = true
				case subscriber.EventGap, subscriber.EventLineLoss:
					t.Errorf("unexpected %v: %+v %s", ev.Kind, ev.Gap, ev.Detail)
				case subscriber.EventSessionEnd:
					break read
				}
			}
			if !lineUp {
				t.Error("no line up event")
			}
			if _, ok := got["B"]; ok {
				t.Error("topic B was not subscribed")
			}
			for _, tp := range []string{"A", "AB"} {
				want := make([]uint64, n/3)
				for i := range want {
					want[i] = uint64(i + 1)
				}
				if !slices.Equal(got[tp], want) {
					t.Errorf("topic %s: %d ticks, want 1..%d in order", tp, len(got[tp]), n/3)
				}
			}
			if st := sink.Stats(); st.Dropped != 0 {
				t.Errorf("sink dropped %d", st.Dropped)
			}
		})
	}
}

// TestPGMOptions: the defaults size the window for a feed, WithLibzmqPGM
// gives libzmq's 80 packets, WithRate and WithRecoveryInterval compute it
// as libzmq does.
func TestPGMOptions(t *testing.T) {
	for _, c := range []struct {
		opts   []Option
		window int
	}{
		{nil, 20833},
		{[]Option{WithLibzmqPGM()}, 80},
		{[]Option{WithRate(100_000), WithRecoveryInterval(time.Second)}, 8333},
	} {
		pgmPort++
		sink, err := Sink(fmt.Sprintf("epgm://127.0.0.1;239.192.9.%d:%d", pgmPort%200+1, pgmPort), c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if w := sink.(*pgmline.Sender).Pub().Stats().Sender.WindowSQNs; w != c.window {
			t.Errorf("window %d, want %d", w, c.window)
		}
		sink.Close()
	}
}
