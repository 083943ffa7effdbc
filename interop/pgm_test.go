package interop

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/pgm/source"
	"github.com/tickcast/tickcast/pgm/transport"
	"github.com/tickcast/tickcast/pgm/zmq"
	"github.com/tickcast/tickcast/subscriber"
)

// The PGM interop tests run libzmq and tickcast on one host, on loopback:
// 127.0.0.1 and groups 239.192.10.x. Raw pgm:// needs CAP_NET_RAW, as root
// in `make test`; without it they skip, or fail under CI.

// libzmqPGMEnv are the socket options the python peers use: libzmq's 100
// kbit/s default rate would take minutes for these messages (libzmq#3221),
// and its window is sized from rate and recovery interval (80 packets at
// the defaults, 83,333 here). PGM_MIN_LOG_LEVEL keeps OpenPGM's warnings
// ("lo reports as a non-multicast capable device") off the peer's stdout.
var libzmqPGMEnv = []string{"PGM_MIN_LOG_LEVEL=ERROR", "ZMQ_RATE=100000", "ZMQ_RECOVERY_IVL=10000", "ZMQ_RCVBUF=4194304", "ZMQ_SNDBUF=4194304"}

var pgmPortSeq atomic.Uint32

// pgmEndpoint returns a loopback endpoint of its own for a test.
func pgmEndpoint(t *testing.T, network string) string {
	t.Helper()
	if network == "pgm" {
		needRaw(t)
	}
	p := 24000 + (os.Getpid()+int(pgmPortSeq.Add(1)))%1000 // a range of its own per package
	return fmt.Sprintf("%s://127.0.0.1;239.192.10.%d:%d", network, 1+p%200, p)
}

// needRaw skips a raw PGM test without CAP_NET_RAW, or fails it in CI.
func needRaw(t *testing.T) {
	t.Helper()
	ep, err := transport.ParseEndpoint("pgm://127.0.0.1;239.192.10.250:1")
	if err != nil {
		t.Fatal(err)
	}
	s, err := transport.NewSender(context.Background(), ep, transport.SenderConfig{}, nopFeeder{})
	if err == nil {
		s.Close(0)
		return
	}
	msg := fmt.Sprintf("raw PGM is not available: %v", err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

type nopFeeder struct{}

func (nopFeeder) Fill([][]byte) int { return 0 }

// pgmMessages are what the PGM interop tests send: topics for prefix
// filtering, multipart messages, empty frames, and bodies that span APDUs
// (3000 and 70000 bytes: the latter 50 packets).
func pgmMessages() [][][]byte {
	var msgs [][][]byte
	sizes := []int{5, 0, 200, 254, 1000, 3000, 70000, 40}
	for i := range 300 {
		topic := []string{"AAPL", "AA", "MSFT", "A", "AMZN", "XAA"}[i%6]
		body := bytes.Repeat([]byte{byte(i), byte(i >> 8)}, sizes[i%len(sizes)]/2+1)[:sizes[i%len(sizes)]]
		m := [][]byte{[]byte(topic), body}
		if i%7 == 0 {
			m = append(m, []byte("part3"), []byte{})
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func withPrefix(msgs [][][]byte, prefix string) [][][]byte {
	var out [][][]byte
	for _, m := range msgs {
		if bytes.HasPrefix(m[0], []byte(prefix)) {
			out = append(out, m)
		}
	}
	return out
}

// TestPGMLibzmqSubReadsTickcastPub: a tickcast PUB sends to two libzmq SUBs,
// one on prefix AA and one on everything, over epgm and raw pgm: each gets
// exactly its messages, frames intact.
func TestPGMLibzmqSubReadsTickcastPub(t *testing.T) {
	needLibzmq(t)
	for _, network := range []string{"epgm", "pgm"} {
		t.Run(network, func(t *testing.T) {
			ep := pgmEndpoint(t, network)
			aa := startPeer(t, libzmqPGMEnv, "sub", ep, "1000000", "30", hex.EncodeToString([]byte("AA")))
			all := startPeer(t, libzmqPGMEnv, "sub", ep, "1000000", "30", "")
			aa.line(t)
			all.line(t)
			time.Sleep(500 * time.Millisecond) // their I/O threads join the group
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pub, err := zmq.NewPub(ctx, ep, zmq.PubConfig{Sender: transport.SenderConfig{
				Source: source.Config{Rate: 50_000_000 / 8}}})
			if err != nil {
				t.Fatal(err)
			}
			msgs := pgmMessages()
			for i, m := range msgs {
				if err := pub.Send(m...); err != nil {
					t.Fatal(err)
				}
				if i%10 == 0 {
					pub.Flush()
				}
			}
			pub.Flush()
			if got, want := aa.messages(t, len(withPrefix(msgs, "AA"))), withPrefix(msgs, "AA"); !equalMessages(got, want) {
				t.Errorf("libzmq SUB on AA: %d messages differ from the %d sent on AA*", len(got), len(want))
			}
			if got := all.messages(t, len(msgs)); !equalMessages(got, msgs) {
				t.Errorf("libzmq SUB on everything: %d messages differ from the %d sent", len(got), len(msgs))
			}
			st := pub.Stats()
			t.Logf("pub: %d messages, %d ODATA, %d NAKs, %d RDATA", st.Messages, st.Sender.Source.ODATASent,
				st.Sender.Source.NAKs, st.Sender.Source.RDATASent)
			pub.Close()
		})
	}
}

// TestPGMTickcastSubReadsLibzmqPub: a libzmq PUB sends to a tickcast SUB on
// prefixes AA and M, over epgm and raw pgm.
func TestPGMTickcastSubReadsLibzmqPub(t *testing.T) {
	needLibzmq(t)
	for _, network := range []string{"epgm", "pgm"} {
		t.Run(network, func(t *testing.T) {
			ep := pgmEndpoint(t, network)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sub, err := zmq.NewSub(ctx, ep, zmq.SubConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			sub.Subscribe([]byte("AA"))
			sub.Subscribe([]byte("M"))
			msgs := pgmMessages()
			p := startPeer(t, libzmqPGMEnv, "pgmpub", ep, batchFile(t, msgs))
			p.line(t) // READY
			var want [][][]byte
			for _, m := range msgs {
				if bytes.HasPrefix(m[0], []byte("AA")) || bytes.HasPrefix(m[0], []byte("M")) {
					want = append(want, m)
				}
			}
			got, evs := readPGM(t, sub, len(want), 30*time.Second)
			if !equalMessages(got, want) {
				t.Fatalf("tickcast SUB: %d messages differ from the %d libzmq sent on AA* and M*", len(got), len(want))
			}
			if len(evs) != 1 || evs[0].Kind != zmq.PeerUp {
				t.Fatalf("events %+v", evs)
			}
			st := sub.Stats()
			if st.Losses != 0 || st.Discarded != 0 || st.Malformed != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// readPGM reads n messages from a zmq.Sub, copied, with the events.
func readPGM(t *testing.T, sub *zmq.Sub, n int, d time.Duration) ([][][]byte, []zmq.Event) {
	t.Helper()
	var msgs [][][]byte
	var evs []zmq.Event
	deadline := time.Now().Add(d)
	for len(msgs) < n {
		b, err := sub.Next(deadline)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Msgs) == 0 && len(b.Events) == 0 && !time.Now().Before(deadline) {
			t.Fatalf("got %d of %d messages (events %+v), stats %+v", len(msgs), n, evs, sub.Stats())
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

// TestPGMTickcastFeedFromLibzmq: a libzmq PUB sends a tickcast feed (with
// garbage mixed in) over epgm; tickcast's subscriber, through
// endpoint.Source, gets every tick of its topics and counts the garbage.
func TestPGMTickcastFeedFromLibzmq(t *testing.T) {
	needLibzmq(t)
	ep := pgmEndpoint(t, "epgm")
	msgs, want, garbage := libzmqFeed()
	src, err := endpoint.Source(ep)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := subscriber.New(context.Background(), subscriber.WithSource(src), subscriber.WithTopics("X", "Y"))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	p := startPeer(t, libzmqPGMEnv, "pgmpub", ep, batchFile(t, msgs))
	p.line(t)
	got := readFeed(t, sub)
	for tp, seqs := range want {
		if !slices.Equal(got[tp], seqs) {
			t.Errorf("topic %s: got %d ticks, want %d, in order", tp, len(got[tp]), len(seqs))
		}
	}
	st := sub.Stats().Total
	if st.DecodeErrors != uint64(garbage) || st.Gaps != 0 || st.Missing != 0 || st.Connects != 1 {
		t.Fatalf("stats %+v: want %d decode errors, no gaps, one line up", st, garbage)
	}
}
