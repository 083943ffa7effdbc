package apdu_test

import (
	"fmt"

	"github.com/tickcast/tickcast/pgm/apdu"
)

// The publisher side: add messages as they come, send full APDUs at once,
// and flush when the queue runs dry so that nothing waits. The subscriber
// side: feed each source's APDUs in sequence order and take the messages.
func Example() {
	var p apdu.Packer // 1428-byte APDUs, as libzmq's epgm://
	var apdus [][]byte
	send := func() {
		for a := p.Next(); a != nil; a = p.Next() {
			apdus = append(apdus, append([]byte(nil), a...)) // really: the payload of the next ODATA
		}
	}
	for _, px := range []string{"101.5", "101.6"} {
		_ = p.Add([]byte("AAPL"), []byte("px="+px))
		send()
	}
	p.Flush() // the queue is empty
	send()
	fmt.Printf("%d APDU, offset %d\n", len(apdus), int(apdus[0][0])<<8|int(apdus[0][1]))

	var d apdu.Decoder // one per source TSI; call d.Reset() on unrecoverable loss
	for _, a := range apdus {
		if err := d.Feed(a); err != nil {
			fmt.Println("malformed:", err) // already counted; the decoder resynchronises
		}
		for m := d.Next(); m != nil; m = d.Next() {
			fmt.Printf("%s %s\n", m[0], m[1]) // frames are valid until the next Decoder call
		}
	}
	// Output:
	// 1 APDU, offset 0
	// AAPL px=101.5
	// AAPL px=101.6
}
