package zmq

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/apdu"
	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/source"
	"github.com/tickcast/tickcast/pgm/transport"
)

// fullAPDU is message i sized to fill one EPGM APDU, so ODATA sqn i carries
// message i.
func fullAPDU(i int) [][]byte {
	n := apdu.MaxAPDUEPGM - 2 - apdu.FrameLen(1) - apdu.FrameLen(1000) + 1000
	b := make([]byte, n)
	binary.BigEndian.PutUint32(b, uint32(i))
	return [][]byte{[]byte("T"), b}
}

// TestStalledApplicationLossIsExact: the application stops reading while
// the publisher sends far more than the Sub's queue and the PGM window
// hold. The socket goroutine never blocks; the window's overrun reports
// the loss, and every sequence number is then either delivered or reported
// lost, exactly once and in order.
func TestStalledApplicationLossIsExact(t *testing.T) {
	const n = 3000
	pub, sub := newPair(t, "epgm",
		PubConfig{Sender: transport.SenderConfig{Source: source.Config{Rate: 200_000_000 / 8}}},
		SubConfig{Queue: 1, BatchBytes: 16 << 10,
			Receiver: transport.ReceiverConfig{Receiver: receiver.Config{WindowSQNs: 128}}})
	sub.Subscribe(nil)
	time.Sleep(20 * time.Millisecond)
	for i := range n {
		if err := pub.Send(fullAPDU(i)...); err != nil {
			t.Fatal(err)
		}
	}
	pub.Flush()
	time.Sleep(500 * time.Millisecond) // the application is away
	seen := make([]int, n)
	losses := 0
	deadline := time.Now().Add(10 * time.Second)
	for done := 0; done < n; {
		b, err := sub.Next(deadline)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Msgs) == 0 && len(b.Events) == 0 {
			t.Fatalf("%d of %d sqns accounted for; stats %+v", done, n, sub.Stats())
		}
		for _, m := range b.Msgs {
			seen[binary.BigEndian.Uint32(m.Frames[1])]++
			done++
		}
		for _, e := range b.Events {
			if e.Kind == Loss {
				losses++
				for k := range e.Count {
					seen[e.SQN+k]++
					done++
				}
			}
		}
	}
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("sqn %d accounted for %d times", i, c)
		}
	}
	st := sub.Stats()
	if losses == 0 || st.Receiver.Receiver.EvictedData == 0 {
		t.Fatalf("no overrun: the test proves nothing (stats %+v)", st)
	}
	t.Logf("%d loss events, %d sqns lost, %d stalls", losses, st.LostSQNs, st.Receiver.Stalls)
}
