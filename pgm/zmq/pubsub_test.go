package zmq

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

var portSeq atomic.Uint32

// testEndpoint returns a loopback endpoint of its own for a test.
func testEndpoint(network string) string {
	p := 21000 + (os.Getpid()+int(portSeq.Add(1)))%1000 // a range of its own per package
	return fmt.Sprintf("%s://127.0.0.1;239.192.8.%d:%d", network, 1+p%200, p)
}

func newPair(t *testing.T, network string, pc PubConfig, sc SubConfig) (*Pub, *Sub) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ep := testEndpoint(network)
	sub, err := NewSub(ctx, ep, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	pub, err := NewPub(ctx, ep, pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	return pub, sub
}

// receive reads n messages, copied, and the events that came with them.
func receive(t *testing.T, sub *Sub, n int, d time.Duration) ([][][]byte, []Event) {
	t.Helper()
	var msgs [][][]byte
	var evs []Event
	deadline := time.Now().Add(d)
	for len(msgs) < n {
		b, err := sub.Next(deadline)
		if err != nil {
			t.Fatal(err)
		}
		if b.empty() && !time.Now().Before(deadline) {
			t.Fatalf("got %d of %d messages (events %v), stats %+v", len(msgs), n, evs, sub.Stats())
		}
		for _, m := range b.Msgs {
			var fs [][]byte
			for _, f := range m.Frames {
				fs = append(fs, bytes.Clone(f))
			}
			msgs = append(msgs, fs)
		}
		evs = append(evs, b.Events...)
	}
	return msgs, evs
}

func TestPubSubMultipartAndLarge(t *testing.T) {
	for _, network := range []string{"epgm", "pgm"} {
		t.Run(network, func(t *testing.T) {
			pub, sub := newPair(t, network, PubConfig{}, SubConfig{})
			sub.Subscribe([]byte("A"))
			time.Sleep(20 * time.Millisecond) // the SPMs: the receiver joins at the first data anyway
			var want [][][]byte
			sizes := []int{0, 1, 40, 253, 254, 1500, 3000, 70000}
			for i := range 400 {
				topic := []string{"AAPL", "MSFT", "A", "AMZN"}[i%4]
				body := bytes.Repeat([]byte{byte(i)}, sizes[i%len(sizes)])
				frames := [][]byte{[]byte(topic), body}
				if i%5 == 0 {
					frames = append(frames, []byte("third"))
				}
				if err := pub.Send(frames...); err != nil {
					t.Fatal(err)
				}
				if topic[0] == 'A' {
					want = append(want, frames)
				}
				if i%50 == 0 {
					pub.Flush()
				}
			}
			pub.Flush()
			got, evs := receive(t, sub, len(want), 10*time.Second)
			for i := range want {
				if len(got[i]) != len(want[i]) {
					t.Fatalf("message %d: %d frames, want %d", i, len(got[i]), len(want[i]))
				}
				for j := range want[i] {
					if !bytes.Equal(got[i][j], want[i][j]) {
						t.Fatalf("message %d frame %d differs", i, j)
					}
				}
			}
			if len(evs) != 1 || evs[0].Kind != PeerUp || evs[0].TSI != pub.TSI() {
				t.Fatalf("events %+v", evs)
			}
			st := sub.Stats()
			if st.Filtered != 100 || st.Losses != 0 || st.Discarded != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}
