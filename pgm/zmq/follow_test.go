package zmq

import (
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/apdu"
	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/wire"
)

// Only sources that delivered a message are the line's: a forged session
// (a new GSI, an SPM flood) that never did reports neither PeerUp nor
// losses, which are counted apart; a real source's losses before its first
// message come with it. Before: SPM floods from new GSIs made an intact line
// report a transport loss of 12,396,812,337,545.
func TestOnlyFollowedSourcesReportLoss(t *testing.T) {
	s := &Sub{maxMsg: apdu.DefaultMaxMessageSize, batchBytes: DefaultBatchBytes,
		sources: make(map[wire.TSI]*stream), ready: make(chan *Batch, 4), free: make(chan *Batch, 5)}
	s.subs.Store(&[][]byte{{}})
	s.free <- &Batch{}
	c := (*subConsumer)(s)
	now := time.Now()
	real, forged := wire.TSI{SPort: 1}, wire.TSI{GSI: wire.GSI{6}, SPort: 2}
	var msg []byte // one ZeroMQ message of one frame "hi", as one APDU
	{
		p, _ := apdu.NewPacker(1000)
		p.Add([]byte("hi"))
		p.Flush()
		msg = p.Next()
	}
	for _, ev := range []receiver.Event{
		{Kind: receiver.EventPeerNew, TSI: forged},
		{Kind: receiver.EventLoss, TSI: forged, SQN: 1, Count: 1 << 31},
		{Kind: receiver.EventPeerNew, TSI: real},
		{Kind: receiver.EventLoss, TSI: real, SQN: 0, Count: 1},
		{Kind: receiver.EventData, TSI: real, Payload: msg},
		{Kind: receiver.EventLoss, TSI: real, SQN: 9, Count: 2},
		{Kind: receiver.EventPeerExpired, TSI: forged},
		{Kind: receiver.EventPeerExpired, TSI: real},
	} {
		if !c.Room() {
			t.Fatal("no room")
		}
		c.Consume(now, &ev)
	}
	var kinds []EventKind
	for _, e := range s.cur.Events {
		if e.TSI != real {
			t.Fatalf("event %v of the forged session", e.Kind)
		}
		kinds = append(kinds, e.Kind)
	}
	if len(kinds) != 4 || kinds[0] != PeerUp || kinds[1] != Loss || kinds[2] != Loss || kinds[3] != PeerDown {
		t.Fatalf("events %v, want peer up, loss (held), loss, peer down of the real source", kinds)
	}
	if st := s.st; st.Losses != 2 || st.LostSQNs != 3 || st.UnfollowedLosses != 1 || st.Messages != 1 {
		t.Fatalf("stats %+v", st)
	}
}
