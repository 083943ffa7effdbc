package transport

import (
	"bytes"
	"testing"
	"time"
)

func TestSenderToReceiver(t *testing.T) {
	for _, network := range []string{"epgm", "pgm"} {
		t.Run(network, func(t *testing.T) {
			ep := testEndpoint(t, network)
			c := newCollector()
			rcv, err := NewReceiver(ctx(t), ep, ReceiverConfig{}, c)
			if err != nil {
				t.Fatal(err)
			}
			defer rcv.Close()
			f := &sliceFeeder{}
			snd, err := NewSender(ctx(t), ep, SenderConfig{}, f)
			if err != nil {
				t.Fatal(err)
			}
			const n = 5000
			var want [][]byte
			for i := range n {
				a := numbered(i, 4+i%(snd.MaxAPDU()-3))
				want = append(want, a)
				f.push(a)
			}
			snd.Wake()
			waitFor(t, 10*time.Second, "all APDUs", func() bool { return c.count() >= n })
			snd.Close(time.Second)
			st := rcv.Stats()
			c.mu.Lock()
			defer c.mu.Unlock()
			for i := range want {
				if !bytes.Equal(c.data[i], want[i]) {
					t.Fatalf("APDU %d differs", i)
				}
			}
			t.Logf("sender %+v", snd.Stats())
			t.Logf("receiver %+v", st)
			if len(c.losses) != 0 || st.Receiver.DroppedDuplicates != 0 {
				t.Fatalf("losses %v, duplicates %d", c.losses, st.Receiver.DroppedDuplicates)
			}
		})
	}
}
