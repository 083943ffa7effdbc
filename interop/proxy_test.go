package interop

// Bind or connect, with libzmq at the other end: a tickcast publisher that
// connects into a zmq_proxy's XSUB and a tickcast subscriber that connects
// to its XPUB; a tickcast publisher that connects to a libzmq SUB that
// binds; a libzmq publisher that connects to a tickcast subscriber that
// binds. The libzmq ends are interop/testdata/zmq_topology.py.

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/subscriber"
	"github.com/tickcast/tickcast/zmtp"
)

// startTopology runs zmq_topology.py with args.
func startTopology(t *testing.T, args ...string) *peer {
	t.Helper()
	return startIn(t, "", nil, append([]string{python, filepath.Join("testdata", "zmq_topology.py")}, args...)...)
}

// endpointLine reads a line the script printed that must be a tcp endpoint.
func endpointLine(t *testing.T, p *peer, what string) string {
	t.Helper()
	ep := p.line(t)
	if !strings.HasPrefix(ep, "tcp://127.0.0.1:") {
		t.Fatalf("%s: the script said %q, want a tcp endpoint on 127.0.0.1", what, ep)
	}
	return ep
}

// connectingSink opens ">"+ep through package endpoint, as the command
// line does, and returns it as the zmtp.Pub it is.
func connectingSink(t *testing.T, ep string) *zmtp.Pub {
	t.Helper()
	s, err := endpoint.Sink(">"+ep, endpoint.WithSendHWM(1<<20), endpoint.WithLinger(20*time.Second),
		endpoint.WithReconnect(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	zp, ok := s.(*zmtp.Pub)
	if !ok {
		s.Close()
		t.Fatalf("Sink(%q) is a %T, want a *zmtp.Pub", ">"+ep, s)
	}
	t.Cleanup(func() { zp.Close() })
	if zp.Stats().Endpoint != ep {
		t.Fatalf("the sink names itself %q, want %q", zp.Stats().Endpoint, ep)
	}
	return zp
}

// publishMixed publishes batches on topics that AA does and does not match,
// with pauses (so topic heartbeats go too), and returns the ticks published
// per topic.
func publishMixed(t *testing.T, p *publisher.Publisher) map[string]int {
	t.Helper()
	topics := []string{"AAPL", "AA", "AAL", "MSFT", "AMZN", "A"}
	published := map[string]int{}
	for i := range 3000 {
		tp := topics[i%len(topics)]
		n, err := p.Topic(tp).PublishBatch(make([]schema.Tick, 1+i%7))
		if err != nil {
			t.Fatal(err)
		}
		published[tp] += n
		if i%500 == 0 {
			time.Sleep(30 * time.Millisecond)
		}
	}
	return published
}

// A tickcast publisher connects into a libzmq zmq_proxy's XSUB (">tcp://"),
// a tickcast subscriber on AA connects to its XPUB: the subscriptions go up
// through the proxy to the publisher, which counts the proxy as a
// subscriber with both (AA and the control topic); every tick on AA*
// arrives, in order, with no gap, and the session's end after them; nothing
// else crosses the proxy (the subscriber filtered nothing: the publisher and
// the proxy did).
func TestAPublisherThatConnectsIntoAZmqProxy(t *testing.T) {
	needLibzmq(t)
	px := startTopology(t, "proxy")
	xsub := endpointLine(t, px, "the XSUB")
	xpub := endpointLine(t, px, "the XPUB")

	src, err := endpoint.Source(xpub, endpoint.WithReconnect(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := subscriber.New(context.Background(), subscriber.WithSource(src), subscriber.WithTopics("AA"))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	zp := connectingSink(t, xsub)
	deadline := time.Now().Add(20 * time.Second)
	for peers := zp.Peers(); len(peers) != 1 || peers[0].Subscriptions < 2; peers = zp.Peers() {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy's XSUB did not pass both subscriptions on: peers %+v", peers)
		}
		time.Sleep(5 * time.Millisecond)
	}
	p, err := publisher.New(publisher.WithSink(zp), publisher.WithHeartbeat(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	published := publishMixed(t, p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	got := readFeed(t, sub) // fails the test on a gap
	var topics []string
	for tp, seqs := range got {
		topics = append(topics, tp)
		want := make([]uint64, published[tp])
		for i := range want {
			want[i] = uint64(i + 1)
		}
		if !slices.Equal(seqs, want) {
			t.Errorf("topic %s: %d ticks, want the %d published, in order", tp, len(seqs), len(want))
		}
	}
	slices.Sort(topics)
	if !slices.Equal(topics, []string{"AA", "AAL", "AAPL"}) {
		t.Fatalf("topics through the proxy: %q, want AA, AAL, AAPL", topics)
	}
	st := sub.Stats()
	if st.Gaps != 0 || st.Missing != 0 || st.Total.Filtered != 0 || st.Total.DecodeErrors != 0 {
		t.Fatalf("subscriber stats %+v: want no gap, and nothing it had to filter", st)
	}
	if d := zp.Stats().Dropped; d != 0 {
		t.Fatalf("%d messages dropped for the proxy", d)
	}
}

// A tickcast publisher connects to a libzmq SUB that binds: the SUB's
// subscription reaches it over the connection it made, and the SUB gets
// exactly the messages published on its prefix, as sent.
func TestAPublisherThatConnectsToALibzmqSubThatBinds(t *testing.T) {
	needLibzmq(t)
	lz := startTopology(t, "subbind", "1000000000", "60", hex.EncodeToString([]byte("MSFT")))
	ep := endpointLine(t, lz, "the SUB")
	zp := connectingSink(t, ep)
	waitSubscribed(t, zp, 1)
	rec := &recorder{Sink: zp}
	p, err := publisher.New(publisher.WithSink(rec), publisher.WithHeartbeat(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	publishMixed(t, p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if d := zp.Stats().Dropped; d != 0 {
		t.Fatalf("%d messages dropped for the libzmq SUB", d)
	}
	want := rec.matching("MSFT")
	if len(want) == 0 {
		t.Fatal("no message on MSFT: the test means nothing")
	}
	if got := lz.messages(t, len(want)); !equalMessages(got, want) {
		t.Fatalf("the libzmq SUB got %d messages that differ from the %d published on MSFT", len(got), len(want))
	}
}

// A libzmq publisher connects to a tickcast subscriber that binds
// ("@tcp://"): it gets the subscriber's subscriptions over the connection it
// made, and the subscriber every tick of its topics, in order, the garbage
// counted and skipped.
func TestALibzmqPublisherThatConnectsToASubscriberThatBinds(t *testing.T) {
	needLibzmq(t)
	src, err := endpoint.Source("@tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if ep := src.Endpoint(); !strings.HasPrefix(ep, "tcp://127.0.0.1:") || strings.HasSuffix(ep, ":0") {
		t.Fatalf("the source names itself %q, want the bound endpoint", ep)
	}
	sub, err := subscriber.New(context.Background(), subscriber.WithSource(src), subscriber.WithTopics("X", "Y"))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	msgs, want, garbage := libzmqFeed()
	lz := startTopology(t, "pubconnect", src.Endpoint(), batchFile(t, msgs))
	if l := lz.line(t); l != "READY" {
		t.Fatalf("the libzmq PUB said %q", l)
	}
	got := readFeed(t, sub)
	for tp, seqs := range want {
		if !slices.Equal(got[tp], seqs) {
			t.Errorf("topic %s: got %d ticks, want %d, in order", tp, len(got[tp]), len(seqs))
		}
	}
	st := sub.Stats()
	if st.Total.DecodeErrors != uint64(garbage) || st.Gaps != 0 || st.Missing != 0 || st.Total.Connects != 1 {
		t.Fatalf("stats %+v: want %d decode errors, no gaps, one connection", st, garbage)
	}
}
