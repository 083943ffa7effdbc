package receiver_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/tickcast/tickcast/pgm/apdu"
	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/source"
	"github.com/tickcast/tickcast/pgm/wire"
)

// A source and a receiver wired back to back in memory, with the loop a
// socket adapter runs around each: messages packed into APDUs, sent as
// ODATA, one of them lost, NAKed after the back-off, repaired, and the
// messages decoded in order.
func Example() {
	start := time.Unix(1_700_000_000, 0)
	nla, group := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("239.192.1.1")
	src, _ := source.New(source.Config{
		TSI: wire.TSI{GSI: wire.GSI{1, 2, 3, 4, 5, 6}, SPort: 40000}, DataPort: 5555, NLA: nla, Group: group,
	}, start)
	rcv, _ := receiver.New(receiver.Config{DataPort: 5555, Group: group, Rand: constRand(0)}, start)

	var decoder apdu.Decoder
	odata := 0
	toReceiver := func(now time.Time, pkt []byte) {
		if wire.Type(pkt[4]) == wire.TypeODATA {
			if odata++; odata == 2 {
				return // the network drops the second ODATA
			}
		}
		_ = rcv.HandleDatagram(now, nla, pkt)
	}
	step := func(now time.Time) {
		for pkt := src.Poll(now); pkt != nil; pkt = src.Poll(now) {
			toReceiver(now, pkt) // SPMs, NCFs, RDATA: to the group
		}
		for tx, ok := rcv.Poll(now); ok; tx, ok = rcv.Poll(now) {
			if tx.Type == wire.TypeNAK {
				fmt.Printf("%v: NAK to %v\n", now.Sub(start), tx.To)
				_ = src.HandleDatagram(now, tx.Packet)
			}
		}
		for pkt := src.Poll(now); pkt != nil; pkt = src.Poll(now) {
			toReceiver(now, pkt)
		}
		for ev, ok := rcv.Next(); ok; ev, ok = rcv.Next() {
			switch ev.Kind {
			case receiver.EventData:
				_ = decoder.Feed(ev.Payload)
				for m := decoder.Next(); m != nil; m = decoder.Next() {
					fmt.Printf("%v: %s (sqn %d, repair %v)\n", now.Sub(start), m[0], ev.SQN, ev.Repair)
				}
			case receiver.EventLoss:
				decoder.Reset()
			}
		}
	}

	step(start) // the source's first SPMs
	var packer apdu.Packer
	for _, m := range []string{"alpha", "beta", "gamma"} {
		_ = packer.Add([]byte(m))
		packer.Flush() // one APDU per message, for the example
		pkt, _ := src.Send(start, packer.Next())
		toReceiver(start, pkt)
	}
	step(start)
	step(rcv.Deadline()) // the NAK back-off
	// Output:
	// 0s: alpha (sqn 0, repair false)
	// 1µs: NAK to 10.0.0.1
	// 1µs: beta (sqn 1, repair true)
	// 1µs: gamma (sqn 2, repair false)
}
