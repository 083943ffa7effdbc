package netsim

import (
	"encoding/binary"
	"fmt"

	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/wire"
)

// Summary is what a receiver got of the source's session.
type Summary struct {
	Join      uint32 // the first sqn covered
	End       uint32 // one past the last sqn covered
	Delivered int
	Repairs   int // delivered from RDATA
	Lost      int // sequence numbers reported lost
	Losses    []receiver.Event
}

// Check verifies the central promise for receiver i: from its join point
// on, the data and loss events for the source's session cover every
// sequence number exactly once, in order, with no gap and no overlap, and
// each data event carries the APDU published for its sqn. firstSQN is the
// source's FirstSQN, which maps sqns to published APDUs.
func (n *Net) Check(i int, firstSQN uint32) (Summary, error) {
	var s Summary
	tsi := n.Src.TSI()
	seen := false
	for _, ev := range n.Nodes[i].Events {
		if ev.TSI != tsi {
			continue
		}
		switch ev.Kind {
		case receiver.EventPeerNew:
			if seen {
				return s, fmt.Errorf("receiver %d: the session is new twice", i)
			}
			continue
		case receiver.EventPeerExpired:
			return s, fmt.Errorf("receiver %d: the session expired", i)
		}
		if !seen {
			seen = true
			s.Join, s.End = ev.SQN, ev.SQN
		}
		if ev.SQN != s.End {
			return s, fmt.Errorf("receiver %d: %v at %v, expected sqn %d next", i, ev.Event, ev.At.Sub(Epoch), s.End)
		}
		switch ev.Kind {
		case receiver.EventData:
			if len(ev.Payload) < 8 || binary.BigEndian.Uint64(ev.Payload) != uint64(ev.SQN-firstSQN) {
				return s, fmt.Errorf("receiver %d: data %d carries APDU %x", i, ev.SQN, ev.Payload[:min(8, len(ev.Payload))])
			}
			s.Delivered++
			if ev.Repair {
				s.Repairs++
			}
			s.End++
		case receiver.EventLoss:
			if ev.Count == 0 {
				return s, fmt.Errorf("receiver %d: empty loss", i)
			}
			s.Lost += int(ev.Count)
			s.Losses = append(s.Losses, ev.Event)
			s.End += ev.Count
		}
	}
	return s, nil
}

// Flights returns the logged packets of type typ from node from (any node
// if from is AnyNode), one per transmission: a multicast packet is listed
// once, with the fate of its copy to the first destination.
func (n *Net) Flights(typ wire.Type, from int) []*Flight {
	var out []*Flight
	var last uint64
	for _, f := range n.Log {
		if f.Type != typ || from != AnyNode && f.From != from || f.ID == last {
			continue
		}
		last = f.ID
		out = append(out, f)
	}
	return out
}
