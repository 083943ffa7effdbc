package transport

import (
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/wire"
)

// withForger starts a receiver on an endpoint of its own, and an attacker
// on the same host.
func withForger(t *testing.T) (Endpoint, *collector, *Receiver, *attacker) {
	ep := testEndpoint(t, "epgm")
	c := newCollector()
	rcv, err := NewReceiver(ctx(t), ep, ReceiverConfig{}, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rcv.Close() })
	return ep, c, rcv, newAttacker(t, ep)
}

// startFeed starts a sender of n numbered APDUs, paced, kept by c.
func startFeed(t *testing.T, ep Endpoint, c *collector, n int) (*Sender, chan struct{}) {
	f := &sliceFeeder{}
	snd, err := NewSender(ctx(t), ep, SenderConfig{}, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snd.Close(0) })
	c.mu.Lock()
	c.only = snd.TSI()
	c.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			f.push(numbered(i, 100))
			if i%20 == 0 {
				snd.Wake()
				time.Sleep(time.Millisecond)
			}
		}
		snd.Wake()
	}()
	return snd, done
}

// One forged ODATA and one forged NCF with the live session's TSI, naming
// sequence numbers far ahead, while the feed runs: every real APDU still
// arrives, in order, and no loss is reported. Before: the window jumped
// (the receiver got half the feed and reported no loss), or filled with
// placeholders for data never sent, declared lost.
func TestAForgedJumpCannotKillTheFeed(t *testing.T) {
	ep, c, rcv, att := withForger(t)
	const n = 5000
	snd, done := startFeed(t, ep, c, n)
	waitFor(t, 10*time.Second, "the feed to start", func() bool { return c.count() > 100 })
	tsi := snd.TSI()
	snd.mu.Lock()
	_, lead := snd.src.Window()
	snd.mu.Unlock()
	var pkts [][]byte
	odata := wire.Data{Type: wire.TypeODATA, TSI: tsi, DataPort: ep.Port, SQN: lead + 1<<30, Trail: lead, Payload: []byte("forged")}
	b, _ := odata.Append(nil)
	pkts = append(pkts, b)
	ncf := wire.NAK{Type: wire.TypeNCF, TSI: tsi, DataPort: ep.Port, Source: ep.Addr, Group: ep.Group}
	ncf.SetSQNs([]uint32{lead + 20_000})
	b, _ = ncf.Append(nil)
	pkts = append(pkts, b)
	spm := wire.SPM{TSI: tsi, DataPort: ep.Port, SQN: 1 << 30, Trail: lead, Lead: lead + 1<<30, NLA: ep.Addr}
	b, _ = spm.Append(nil)
	pkts = append(pkts, b)
	att.send(ep.Group, pkts...)
	<-done
	waitFor(t, 20*time.Second, "every real APDU", func() bool { return c.count() >= n })
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, d := range c.data {
		if got := numberOf(d); got != i {
			t.Fatalf("APDU %d is %d", i, got)
		}
	}
	if len(c.losses) != 0 {
		t.Fatalf("losses reported: %v", c.losses)
	}
	st := rcv.Stats().Receiver
	if st.DroppedImplausible == 0 || st.NCFsBeyond == 0 {
		t.Fatalf("the forgeries were not counted: %+v", st)
	}
}

// Forged sessions sent before the publisher starts (20 new GSIs, more than
// the receiver's 16 places) cannot keep it out: a new session takes the
// place of one never confirmed by an SPM. Before: the subscriber received
// nothing of the real feed, and logged nothing.
func TestForgedSessionsCannotKeepTheFeedOut(t *testing.T) {
	ep, c, rcv, att := withForger(t)
	var pkts [][]byte
	for i := range 20 {
		fake := wire.Data{Type: wire.TypeODATA, TSI: wire.TSI{GSI: wire.GSI{7, 7, 7, 7, 7, byte(i)}, SPort: 1},
			DataPort: ep.Port, SQN: 1, Payload: []byte("\x00\x00\x03\x00ab")}
		b, _ := fake.Append(nil)
		pkts = append(pkts, b)
	}
	att.send(ep.Group, pkts...)
	const n = 2000
	_, done := startFeed(t, ep, c, n)
	<-done
	waitFor(t, 20*time.Second, "the real feed", func() bool { return c.count() >= n })
	if st := rcv.Stats().Receiver; st.PeersEvicted == 0 {
		t.Fatalf("no session evicted: %+v", st)
	}
}

func numberOf(b []byte) int { return int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3]) }
