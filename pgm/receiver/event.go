package receiver

import (
	"fmt"
	"net/netip"

	"github.com/tickcast/tickcast/pgm/wire"
)

// EventKind says what an Event reports.
type EventKind uint8

// Event kinds.
const (
	// EventPeerNew: a session (TSI) heard for the first time, or again
	// after it expired. It comes before any of the session's data. A
	// restarted publisher is a new TSI; Source lets the caller notice that
	// it comes from the same host.
	EventPeerNew EventKind = iota + 1
	// EventData: the next TSDU (one APDU) of a session, in sequence order.
	EventData
	// EventLoss: sequence numbers SQN to Last() of a session will never be
	// delivered. It comes exactly where they would have been, so the
	// caller resets the session's apdu.Decoder at this point.
	EventLoss
	// EventPeerExpired: the session sent no SPM for PeerExpiry. Everything
	// it sent has been delivered or reported lost before this event.
	EventPeerExpired
)

func (k EventKind) String() string {
	switch k {
	case EventPeerNew:
		return "peer-new"
	case EventData:
		return "data"
	case EventLoss:
		return "loss"
	case EventPeerExpired:
		return "peer-expired"
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event is one thing the Receiver delivers. For every session, the
// EventData and EventLoss events cover every sequence number from the join
// point to the last one heard, in order, each exactly once.
type Event struct {
	Kind EventKind
	TSI  wire.TSI
	// SQN is the data's sequence number (EventData) or the first lost one
	// (EventLoss).
	SQN uint32
	// Count is how many sequence numbers are lost (EventLoss).
	Count uint32
	// Payload is the TSDU (EventData). It points into the receive window
	// and is valid until the next call on the Receiver.
	Payload []byte
	// Repair is set when the data came as RDATA (EventData).
	Repair bool
	// Source is the IP source of the session's first packet (EventPeerNew).
	Source netip.Addr
}

// Last returns the last lost sequence number of an EventLoss.
func (e *Event) Last() uint32 { return e.SQN + e.Count - 1 }

func (e Event) String() string {
	switch e.Kind {
	case EventData:
		return fmt.Sprintf("%v data %d (%d bytes)", e.TSI, e.SQN, len(e.Payload))
	case EventLoss:
		return fmt.Sprintf("%v loss %d..%d (%d)", e.TSI, e.SQN, e.Last(), e.Count)
	case EventPeerNew:
		return fmt.Sprintf("%v new from %v", e.TSI, e.Source)
	}
	return fmt.Sprintf("%v %v", e.TSI, e.Kind)
}

// Transmit is a packet the Receiver wants sent.
type Transmit struct {
	// Packet is the PGM packet, valid until the next call on the Receiver.
	Packet []byte
	// Type is TypeNAK or TypeSPMR.
	Type wire.Type
	// To is where it goes: the source's path NLA for a NAK, the IP source
	// of the session's packets for a unicast SPMR, the group when
	// Multicast. The UDP port (EPGM) is the socket's business: with libzmq
	// it is the data-destination port for all of them.
	To netip.Addr
	// Multicast: send to the group with TTL 1 (the multicast SPMR).
	Multicast bool
}
