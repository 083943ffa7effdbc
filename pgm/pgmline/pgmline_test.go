package pgmline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/source"
	"github.com/tickcast/tickcast/pgm/transport"
	"github.com/tickcast/tickcast/pgm/zmq"
	"github.com/tickcast/tickcast/port"
)

var portSeq atomic.Uint32

func testEndpoint() string {
	p := 26000 + (os.Getpid()+int(portSeq.Add(1)))%1000 // a range of its own per package
	return fmt.Sprintf("epgm://127.0.0.1;239.192.12.%d:%d", 1+p%200, p)
}

// TestSenderDropsDataKeepsControl: a sink behind a slow rate limit never
// blocks; data beyond the backlog is dropped and counted, control messages
// still get through on the reserve.
func TestSenderDropsDataKeepsControl(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := NewSender(ctx, testEndpoint(), zmq.PubConfig{Backlog: 64 << 10, Reserve: 16 << 10, Linger: -1,
		Sender: transport.SenderConfig{Source: source.Config{Rate: source.LibzmqRate}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	body := make([]byte, 1000)
	start := time.Now()
	for range 1000 {
		if err := s.Send(port.Message{Topic: []byte("T"), Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	s.Flush()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("1000 sends took %v: Send blocked", d)
	}
	st := s.Stats()
	// Accepted: the 64 kB backlog, the sender's batch of APDUs taken out of
	// it (up to 64) and what the rate's one-second burst let out.
	if st.Messages != 1000 || st.Dropped < 800 || st.Dropped > 940 {
		t.Fatalf("stats %+v: want about 64 kB + a sender batch accepted and the rest dropped", st)
	}
	for range 100 {
		s.Send(port.Message{Topic: []byte("\x00ctl"), Body: []byte("heartbeat"), Control: true})
	}
	if st2 := s.Stats(); st2.Dropped != st.Dropped {
		t.Fatalf("control messages dropped: %d", st2.Dropped-st.Dropped)
	}
	// The reserve is bounded too.
	for range 100 {
		s.Send(port.Message{Topic: []byte("\x00ctl"), Body: body, Control: true})
	}
	if st3 := s.Stats(); st3.Dropped == st.Dropped {
		t.Fatal("the reserve is unbounded")
	}
}

// TestReceiverBatchesAndEvents: Raw messages as the subscriber expects them,
// one LineUp for the first source, and LineLoss with the sqns when the
// application stalls past the window.
func TestReceiverBatchesAndEvents(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ep := testEndpoint()
	src, err := NewReceiver(ctx, ep, zmq.SubConfig{Queue: 1, BatchBytes: 8 << 10,
		Receiver: transport.ReceiverConfig{Receiver: receiver.Config{WindowSQNs: 64}}})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	src.Subscribe([]byte("A"))
	pub, err := zmq.NewPub(ctx, ep, zmq.PubConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	time.Sleep(20 * time.Millisecond)
	pub.Send([]byte("A1"), []byte("body"), []byte("extra"))
	pub.Send([]byte("B1"), []byte("filtered"))
	pub.Send([]byte("A2"))
	pub.Flush()
	var raws []port.Raw
	var evs []port.LineEvent
	deadline := time.Now().Add(5 * time.Second)
	for len(raws) < 2 && time.Now().Before(deadline) {
		b, err := src.Next(deadline)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Msgs {
			r.Topic, r.Body = bytes.Clone(r.Topic), bytes.Clone(r.Body)
			raws = append(raws, r)
		}
		evs = append(evs, b.Events...)
		if !b.Time.IsZero() && time.Since(b.Time) > time.Second {
			t.Fatalf("batch time %v", b.Time)
		}
	}
	if len(raws) != 2 || string(raws[0].Topic) != "A1" || string(raws[0].Body) != "body" || raws[0].Frames != 3 ||
		raws[0].Size != 2+4+5 || string(raws[1].Topic) != "A2" || raws[1].Body != nil || raws[1].Frames != 1 {
		t.Fatalf("raws %+v", raws)
	}
	if len(evs) != 1 || evs[0].Kind != port.LineUp || !regexp.MustCompile(`pgm source [0-9.]+\.\d+ at 127\.0\.0\.1`).MatchString(evs[0].Detail) {
		t.Fatalf("events %+v", evs)
	}

	// Stall past the window: LineLoss, exactly once per lost range.
	body := make([]byte, 1400)
	for range 2000 {
		pub.Send([]byte("A"), body)
	}
	pub.Flush()
	time.Sleep(400 * time.Millisecond)
	var lost uint64
	re := regexp.MustCompile(`^tsi \S+ lost sqn (\d+)-(\d+) \((\d+) packets, \d+ messages cut\)$`)
	for {
		b, err := src.Next(time.Now().Add(300 * time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Msgs) == 0 && len(b.Events) == 0 {
			break
		}
		for _, e := range b.Events {
			if e.Kind != port.LineLoss || !re.MatchString(e.Detail) {
				t.Fatalf("event %+v", e)
			}
			m := re.FindStringSubmatch(e.Detail)
			var first, last, n uint64
			fmt.Sscan(m[1], &first)
			fmt.Sscan(m[2], &last)
			fmt.Sscan(m[3], &n)
			if n != e.Lost || last-first+1 != n {
				t.Fatalf("event %+v", e)
			}
			lost += e.Lost
		}
	}
	if lost == 0 {
		t.Fatal("no loss reported after stalling past the window")
	}
	t.Logf("%d packets reported lost", lost)
}
