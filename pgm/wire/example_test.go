package wire_test

import (
	"fmt"
	"net/netip"

	"github.com/tickcast/tickcast/pgm/wire"
)

// A receive loop parses every datagram into one reused Packet and switches
// on the type.
func ExampleParsePacket() {
	tsi := wire.TSI{GSI: wire.GSI{1, 2, 3, 4, 5, 6}, SPort: 40000}
	odata := wire.Data{Type: wire.TypeODATA, TSI: tsi, DataPort: 5555, SQN: 7, Payload: []byte("apdu")}
	datagram, _ := odata.Append(nil)

	var p wire.Packet
	if err := wire.ParsePacket(datagram, &p); err != nil {
		fmt.Println("drop:", err) // errors.Is(err, wire.ErrBadChecksum) etc.
		return
	}
	switch p.Header.Type {
	case wire.TypeODATA, wire.TypeRDATA:
		fmt.Printf("%v from %v: sqn %d, %q\n", p.Header.Type, p.Data.TSI, p.Data.SQN, p.Data.Payload)
	case wire.TypeSPM:
		fmt.Println("SPM, NAKs go to", p.SPM.NLA)
	}
	// Output: ODATA from 1.2.3.4.5.6.40000: sqn 7, "apdu"
}

// A receiver NAKs several sequence numbers at once: the first goes in the
// body, the rest in OPT_NAK_LIST. TSI and DataPort are the source's; Append
// swaps them into the upstream header.
func ExampleNAK_SetSQNs() {
	nak := wire.NAK{
		Type:     wire.TypeNAK,
		TSI:      wire.TSI{GSI: wire.GSI{1, 2, 3, 4, 5, 6}, SPort: 40000},
		DataPort: 5555,
		Source:   netip.MustParseAddr("10.77.0.1"), // the SPM's path NLA
		Group:    netip.MustParseAddr("239.192.1.1"),
	}
	if err := nak.SetSQNs([]uint32{4, 5, 9}); err != nil {
		fmt.Println(err) // more than MaxNAKSQNs
		return
	}
	pkt, _ := nak.Append(nil)
	fmt.Printf("%d bytes, sport %d, dport %d, options %#02x\n", len(pkt), int(pkt[0])<<8|int(pkt[1]), int(pkt[2])<<8|int(pkt[3]), pkt[5])
	// Output: 52 bytes, sport 5555, dport 40000, options 0x03
}
