//go:build measure

package interop

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/pgm/source"
	"github.com/tickcast/tickcast/pgm/sqn"
	"github.com/tickcast/tickcast/pgm/transport"
	"github.com/tickcast/tickcast/pgm/zmq"
	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/schema"
)

// TestPGMThroughput measures EPGM on loopback between two processes:
// messages [TICK, 64 bytes] from a publisher process to a subscriber
// process, tickcast and libzmq (driven by python, so a lower bound for
// libzmq) in each role, and a tickcast feed of ticks. It is a measurement,
// not a test, so it is built only with the measure tag (make test never
// runs it) and reports with t.Log:
//
//	go test -tags measure -run TestPGMThroughput -v ./interop
func TestPGMThroughput(t *testing.T) {
	needLibzmq(t)
	const size = 64
	count := 2_000_000
	pyCount := 300_000
	// libzmq at 1 Gbit/s with a 10 s recovery interval: an 833,333-packet
	// window, as tickcast's endpoint defaults would be at 10 s.
	pyEnv := append([]string{"ZMQ_RATE=1000000", "ZMQ_RECOVERY_IVL=2000", "ZMQ_RCVBUF=8388608", "ZMQ_SNDBUF=8388608"}, libzmqPGMEnv[0])
	report := func(name string, l string) {
		var n, pkts, lost int
		var secs float64
		fmt.Sscanf(strings.TrimPrefix(l, "RESULT "), "%d %f %d %d", &n, &secs, &pkts, &lost)
		if pkts > 0 {
			t.Logf("%-28s %9d msgs in %6.3fs: %10.0f msgs/s, %8.0f pkts/s, lost %d", name, n, secs, float64(n)/secs, float64(pkts)/secs, lost)
		} else {
			t.Logf("%-28s %9d msgs in %6.3fs: %10.0f msgs/s", name, n, secs, float64(n)/secs)
		}
	}
	tickcastPub := func(ep string, n int, rate int64) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pub, err := zmq.NewPub(ctx, ep, zmq.PubConfig{Sender: transport.SenderConfig{
			Source: source.Config{Rate: rate, RecoveryInterval: endpoint.DefaultPGMRecovery,
				WindowSQNs: sqn.Window(endpoint.DefaultPGMRate*1000/8, endpoint.DefaultPGMRecovery, 1500)}}})
		if err != nil {
			t.Fatal(err)
		}
		topic, body := []byte("TICK"), make([]byte, size)
		for range n {
			for pub.Send(topic, body) == zmq.ErrBacklogFull {
				pub.Flush()
				time.Sleep(50 * time.Microsecond)
			}
		}
		pub.Flush()
		time.Sleep(time.Second)
		pub.Close()
	}
	subEnv := func(ep string, n int) []string {
		return []string{"PGM_HELPER_ROLE=benchsub", "PGM_HELPER_ENDPOINT=" + ep, fmt.Sprintf("PGM_HELPER_COUNT=%d", n),
			fmt.Sprintf("PGM_HELPER_RATE=%d", endpoint.DefaultPGMRate*1000/8),
			fmt.Sprintf("PGM_HELPER_RECOVERY_MS=%d", endpoint.DefaultPGMRecovery.Milliseconds())}
	}

	defaultRate := int64(endpoint.DefaultPGMRate * 1000 / 8)
	t.Run("tickcast to tickcast", func(t *testing.T) {
		ep := pgmEndpoint(t, "epgm")
		sub := helper(t, "", subEnv(ep, count)...)
		expectLine(t, sub, "READY")
		time.Sleep(200 * time.Millisecond)
		tickcastPub(ep, count, defaultRate)
		report("tickcast -> tickcast 1Gbit/s", expectLine(t, sub, "RESULT"))
	})
	t.Run("tickcast to tickcast unlimited", func(t *testing.T) {
		ep := pgmEndpoint(t, "epgm")
		sub := helper(t, "", subEnv(ep, 3*count)...)
		expectLine(t, sub, "READY")
		time.Sleep(200 * time.Millisecond)
		tickcastPub(ep, 3*count, -1)
		report("tickcast -> tickcast no limit", expectLine(t, sub, "RESULT"))
	})
	t.Run("tickcast to libzmq", func(t *testing.T) {
		ep := pgmEndpoint(t, "epgm")
		sub := startPeer(t, pyEnv, "benchsub", ep, fmt.Sprint(pyCount))
		expectLine(t, sub, "READY")
		time.Sleep(500 * time.Millisecond)
		tickcastPub(ep, pyCount, defaultRate)
		report("tickcast -> libzmq(python)", expectLine(t, sub, "RESULT"))
	})
	t.Run("libzmq to tickcast", func(t *testing.T) {
		ep := pgmEndpoint(t, "epgm")
		sub := helper(t, "", subEnv(ep, pyCount)...)
		expectLine(t, sub, "READY")
		pub := startPeer(t, pyEnv, "benchpub", ep, fmt.Sprint(pyCount), fmt.Sprint(size))
		expectLine(t, pub, "READY")
		report("libzmq(python) -> tickcast", expectLine(t, sub, "RESULT"))
	})
	t.Run("libzmq to libzmq", func(t *testing.T) {
		ep := pgmEndpoint(t, "epgm")
		sub := startPeer(t, pyEnv, "benchsub", ep, fmt.Sprint(pyCount))
		expectLine(t, sub, "READY")
		pub := startPeer(t, pyEnv, "benchpub", ep, fmt.Sprint(pyCount), fmt.Sprint(size))
		expectLine(t, pub, "READY")
		report("libzmq -> libzmq (python)", expectLine(t, sub, "RESULT"))
	})
	t.Run("tickcast feed", func(t *testing.T) {
		ep := pgmEndpoint(t, "epgm")
		sub := helper(t, "", "PGM_HELPER_ROLE=feedsub", "PGM_HELPER_ENDPOINT="+ep)
		expectLine(t, sub, "READY")
		time.Sleep(200 * time.Millisecond)
		sink, err := endpoint.Sink(ep)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := publisher.New(publisher.WithSink(sink))
		if err != nil {
			t.Fatal(err)
		}
		// Paced at 2M ticks/s, in batches of 100 over 50 topics: the
		// 1 Gbit/s default carries about 2.3M ticks/s of these.
		const ticks, perSec = 4_000_000, 2_000_000
		batch := make([]schema.Tick, 100)
		topics := []*publisher.Topic{}
		for i := range 50 {
			topics = append(topics, pub.Topic(fmt.Sprintf("SYM%02d", i)))
		}
		start := time.Now()
		for i := 0; i < ticks/len(batch); i++ {
			if ahead := time.Duration(i*len(batch))*time.Second/perSec - time.Since(start); ahead > time.Millisecond {
				time.Sleep(ahead)
			}
			for rest := batch; len(rest) > 0; {
				n, _ := topics[i%len(topics)].PublishBatch(rest)
				if rest = rest[n:]; len(rest) > 0 {
					time.Sleep(100 * time.Microsecond) // the publisher's queue is full
				}
			}
		}
		pubTime := time.Since(start)
		pub.Close()
		var n, gaps int
		var secs float64
		l := expectLine(t, sub, "RESULT")
		fmt.Sscanf(strings.TrimPrefix(l, "RESULT "), "%d %f %d", &n, &secs, &gaps)
		st := sink.Stats()
		t.Logf("tickcast feed: %d ticks received in %.3fs: %.0f ticks/s (published in %v), gaps %d, sink dropped %d msgs",
			n, secs, float64(n)/secs, pubTime.Round(time.Millisecond), gaps, st.Dropped)
	})
}
