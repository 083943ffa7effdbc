// Package netsim connects a pgm/source.Source to pgm/receiver.Receivers
// back to back through a simulated network driven by a fake clock, for
// tests. Every packet crosses it encoded, exactly as a socket would carry
// it, and a programmable Fate per packet drops, duplicates or delays it.
//
// Time advances from event to event: packet arrivals, the Deadline of every
// node, the source's SendTime while APDUs wait for the rate limit, and
// actions scheduled with At. Nothing sleeps, so a test of minutes of
// protocol time runs in milliseconds and always the same way.
package netsim

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/source"
	"github.com/tickcast/tickcast/pgm/wire"
)

// Addresses of the simulated hosts.
var (
	SourceAddr = netip.MustParseAddr("10.0.0.1")
	Group      = netip.MustParseAddr("239.192.1.1")
)

// DataPort is the simulated endpoint's port.
const DataPort = 5555

// ReceiverAddr returns the address of receiver i.
func ReceiverAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + i)}) }

// Node indexes Flight uses besides receivers' indexes.
const (
	SourceNode = -1 // the source
	AnyNode    = -2 // in rules and Flights: every node
	Outsider   = -3 // a host injecting packets (Inject)
)

// OutsiderAddr is the address of the Outsider.
var OutsiderAddr = netip.MustParseAddr("10.0.0.99")

// Flight is one packet on its way from one node to another. A multicast
// packet makes one Flight per receiver, each with its own Fate.
type Flight struct {
	Sent      time.Time
	From, To  int // receiver index, or SourceNode
	Type      wire.Type
	SQNs      []uint32 // ODATA/RDATA: its sqn; NAK/NCF: all of them; SPM: its lead
	Multicast bool
	// Nth counts the transmissions of this packet by its sender, by type and
	// first sqn: 1 for an ODATA, 1 for the first RDATA of a sqn, 2 for the
	// second, and so on. Every copy of a multicast packet has the same Nth.
	Nth    int
	Packet []byte
	Fate   Fate   // what the network did with it
	ID     uint64 // the transmission: the copies of a multicast packet share it
	at     time.Time
	order  uint64
}

func (f *Flight) String() string {
	from, to := "source", "source"
	if f.From >= 0 {
		from = fmt.Sprintf("rcv%d", f.From)
	}
	if f.To >= 0 {
		to = fmt.Sprintf("rcv%d", f.To)
	}
	return fmt.Sprintf("%v %s->%s %v %v #%d %+v", f.Sent.Format("15:04:05.000000"), from, to, f.Type, f.SQNs, f.Nth, f.Fate)
}

// Node is a receiver with the application on top of it, which records
// everything Next returns.
type Node struct {
	R      *receiver.Receiver
	Addr   netip.Addr
	Paused bool // the application does not call Next
	Events []Event
}

// Event is a receiver.Event as recorded, payload copied.
type Event struct {
	receiver.Event
	At time.Time
}

// Net is the simulated network.
type Net struct {
	Now     time.Time
	Src     *source.Source
	Nodes   []*Node
	Latency time.Duration // one way, every packet
	Rule    Rule          // nil: every packet arrives once
	Log     []*Flight     // every packet sent, with its fate

	pending  [][]byte // APDUs waiting for the rate limit
	nextAPDU uint64
	inflight flights
	order    uint64
	counts   map[countKey]int
	actions  []action
}

type countKey struct {
	from int
	typ  wire.Type
	sqn  uint32
}

type action struct {
	at time.Time
	f  func()
}

// Epoch is when every simulation starts.
var Epoch = time.Unix(1_700_000_000, 0)

// New returns a network with a source configured by src and a receiver per
// element of rcvs. Addresses, ports, the TSI and the group are filled in.
func New(src source.Config, rcvs ...receiver.Config) (*Net, error) {
	n := &Net{Now: Epoch, counts: map[countKey]int{}}
	if src.TSI == (wire.TSI{}) {
		src.TSI = wire.TSI{GSI: wire.GSI{1, 2, 3, 4, 5, 6}, SPort: 40000}
	}
	src.DataPort, src.NLA, src.Group = DataPort, SourceAddr, Group
	s, err := source.New(src, n.Now)
	if err != nil {
		return nil, err
	}
	n.Src = s
	for i, c := range rcvs {
		c.DataPort, c.Group = DataPort, Group
		r, err := receiver.New(c, n.Now)
		if err != nil {
			return nil, err
		}
		n.Nodes = append(n.Nodes, &Node{R: r, Addr: ReceiverAddr(i)})
	}
	return n, nil // the source's first SPMs go out in the first step, under Rule
}

// Publish queues count APDUs. The i-th APDU ever published (from 0) carries
// i as a big-endian uint64, then filler up to size bytes (at least 8).
func (n *Net) Publish(count, size int) {
	for range count {
		a := make([]byte, max(size, 8))
		binary.BigEndian.PutUint64(a, n.nextAPDU)
		n.nextAPDU++
		n.pending = append(n.pending, a)
	}
}

// Inject sends an arbitrary datagram from the Outsider to node to (a
// receiver, or SourceNode) now. It is not logged and has no fate.
func (n *Net) Inject(to int, datagram []byte) {
	n.order++
	heap.Push(&n.inflight, &Flight{Sent: n.Now, From: Outsider, To: to, Packet: append([]byte(nil), datagram...),
		at: n.Now.Add(n.Latency), order: n.order})
}

// Published returns how many APDUs were published so far.
func (n *Net) Published() uint64 { return n.nextAPDU }

// Pending returns how many APDUs wait for the rate limit.
func (n *Net) Pending() int { return len(n.pending) }

// At schedules f at time t (relative to Epoch).
func (n *Net) At(t time.Duration, f func()) {
	n.actions = append(n.actions, action{Epoch.Add(t), f})
}

// Run advances the simulation by d.
func (n *Net) Run(d time.Duration) { n.RunUntil(n.Now.Add(d)) }

// RunUntil advances the simulation to end, handling every event on the way.
func (n *Net) RunUntil(end time.Time) {
	spins := 0
	for {
		next, ok := n.nextEvent()
		if !ok || next.After(end) {
			n.Now = end
			return
		}
		if !next.After(n.Now) {
			if spins++; spins > 1_000_000 {
				panic(fmt.Sprintf("netsim: no progress at %v", n.Now.Sub(Epoch)))
			}
			next = n.Now
		} else {
			spins = 0
		}
		n.Now = next
		n.step()
	}
}

func (n *Net) nextEvent() (time.Time, bool) {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if len(n.inflight) > 0 {
		consider(n.inflight[0].at)
	}
	consider(n.Src.Deadline())
	if len(n.pending) > 0 {
		consider(n.Src.SendTime(len(n.pending[0])))
	}
	for _, nd := range n.Nodes {
		consider(nd.R.Deadline())
	}
	for _, a := range n.actions {
		consider(a.at)
	}
	return next, !next.IsZero()
}

// step handles everything due at n.Now.
func (n *Net) step() {
	for i := 0; i < len(n.actions); {
		if a := n.actions[i]; !a.at.After(n.Now) {
			n.actions = append(n.actions[:i], n.actions[i+1:]...)
			a.f()
			continue
		}
		i++
	}
	for len(n.inflight) > 0 && !n.inflight[0].at.After(n.Now) {
		f := heap.Pop(&n.inflight).(*Flight)
		if f.To == SourceNode {
			_ = n.Src.HandleDatagram(n.Now, f.Packet)
			n.flushSource()
		} else {
			nd := n.Nodes[f.To]
			from := SourceAddr
			switch {
			case f.From >= 0:
				from = ReceiverAddr(f.From)
			case f.From == Outsider:
				from = OutsiderAddr
			}
			_ = nd.R.HandleDatagram(n.Now, from, f.Packet)
			n.flushNode(f.To)
		}
	}
	n.Src.HandleTimeout(n.Now)
	n.flushSource() // what is due goes before new data, as in a socket loop
	for len(n.pending) > 0 {
		pkt, err := n.Src.Send(n.Now, n.pending[0])
		if err != nil {
			break
		}
		n.pending = n.pending[1:]
		n.multicast(SourceNode, pkt)
	}
	n.flushSource()
	for i, nd := range n.Nodes {
		nd.R.HandleTimeout(n.Now)
		n.flushNode(i)
	}
}

// Resume unpauses receiver i's application and lets it read.
func (n *Net) Resume(i int) {
	n.Nodes[i].Paused = false
	n.flushNode(i)
}

func (n *Net) flushSource() {
	for pkt := n.Src.Poll(n.Now); pkt != nil; pkt = n.Src.Poll(n.Now) {
		n.multicast(SourceNode, pkt)
	}
}

func (n *Net) flushNode(i int) {
	nd := n.Nodes[i]
	for {
		tx, ok := nd.R.Poll(n.Now)
		if !ok {
			break
		}
		switch {
		case tx.Multicast:
			n.multicast(i, tx.Packet)
		case tx.To == SourceAddr:
			n.unicast(i, SourceNode, tx.Packet)
		default: // to a forged session's address: logged, lost
			f := n.flight(i, tx.Packet, false)
			f.To, f.Fate = Outsider, Fate{Drop: true}
			n.Log = append(n.Log, &f)
		}
	}
	if nd.Paused {
		return
	}
	for {
		ev, ok := nd.R.Next()
		if !ok {
			break
		}
		ev.Payload = append([]byte(nil), ev.Payload...)
		nd.Events = append(nd.Events, Event{Event: ev, At: n.Now})
	}
}

// multicast sends pkt from node from to every other node on the group: the
// source and every receiver for a receiver's packet, every receiver for the
// source's.
func (n *Net) multicast(from int, pkt []byte) {
	f := n.flight(from, pkt, true)
	if from != SourceNode {
		n.send(f, SourceNode)
	}
	for i := range n.Nodes {
		if i != from {
			n.send(f, i)
		}
	}
}

func (n *Net) unicast(from, to int, pkt []byte) {
	n.send(n.flight(from, pkt, false), to)
}

// flight describes a transmission of pkt and counts it.
func (n *Net) flight(from int, pkt []byte, multicast bool) Flight {
	var p wire.Packet
	if err := wire.ParsePacket(pkt, &p); err != nil {
		panic(fmt.Sprintf("netsim: node %d sent an unparsable packet: %v", from, err))
	}
	f := Flight{Sent: n.Now, From: from, Type: p.Header.Type, Multicast: multicast,
		Packet: append([]byte(nil), pkt...)}
	switch p.Header.Type {
	case wire.TypeODATA, wire.TypeRDATA:
		f.SQNs = []uint32{p.Data.SQN}
	case wire.TypeNAK, wire.TypeNCF:
		f.SQNs = p.NAK.AppendSQNs(nil)
	case wire.TypeSPM:
		f.SQNs = []uint32{p.SPM.Lead}
	}
	k := countKey{from: from, typ: f.Type}
	if len(f.SQNs) > 0 {
		k.sqn = f.SQNs[0]
	}
	n.counts[k]++
	f.Nth = n.counts[k]
	n.order++
	f.ID = n.order
	return f
}

// send puts a copy of f towards node to, as its fate decides.
func (n *Net) send(f Flight, to int) {
	f.To = to
	if n.Rule != nil {
		f.Fate = n.Rule(&f)
	}
	n.Log = append(n.Log, &f)
	if f.Fate.Drop {
		return
	}
	for c := 0; c <= f.Fate.Copies; c++ {
		g := f
		g.at = n.Now.Add(n.Latency + f.Fate.Delay)
		n.order++
		g.order = n.order
		heap.Push(&n.inflight, &g)
	}
}

// flights is a heap of flights by arrival, then by sending order.
type flights []*Flight

func (h flights) Len() int { return len(h) }
func (h flights) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].order < h[j].order
}
func (h flights) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *flights) Push(x any)   { *h = append(*h, x.(*Flight)) }
func (h *flights) Pop() any {
	old := *h
	f := old[len(old)-1]
	*h = old[:len(old)-1]
	return f
}

// PublishEvery publishes count APDUs of size bytes, one every interval,
// starting at start.
func (n *Net) PublishEvery(start, interval time.Duration, count, size int) {
	var next func()
	left := count
	t := start
	next = func() {
		n.Publish(1, size)
		left--
		if left > 0 {
			t += interval
			n.At(t, next)
		}
	}
	n.At(t, next)
}
