package apdu_test

import (
	"testing"

	"github.com/tickcast/tickcast/pgm/apdu"
)

// Once warmed up, packing messages into APDUs allocates nothing: buffers
// handed out by Next are recycled.
func TestPackerSteadyStateDoesNotAllocate(t *testing.T) {
	var p apdu.Packer
	topic, body, big := []byte("AAPL"), make([]byte, 40), make([]byte, 5000)
	round := func() {
		for range 100 {
			_ = p.Add(topic, body)
			for a := p.Next(); a != nil; a = p.Next() {
			}
		}
		_ = p.Add(big)
		p.Flush()
		for a := p.Next(); a != nil; a = p.Next() {
		}
	}
	round()
	if n := testing.AllocsPerRun(50, round); n != 0 {
		t.Fatalf("%v allocations per round", n)
	}
}

// Once warmed up, decoding APDUs into messages allocates nothing, whether
// messages sit inside one APDU or span several.
func TestDecoderSteadyStateDoesNotAllocate(t *testing.T) {
	var p apdu.Packer
	for i := range 200 {
		_ = p.Add([]byte("MSFT"), make([]byte, 10+i*7%900))
	}
	_ = p.Add(make([]byte, 20000))
	p.Flush()
	apdus := takeAll(&p)
	var d apdu.Decoder
	round := func() {
		for _, a := range apdus {
			if err := d.Feed(a); err != nil {
				t.Fatal(err)
			}
			for m := d.Next(); m != nil; m = d.Next() {
			}
		}
	}
	round()
	if n := testing.AllocsPerRun(50, round); n != 0 {
		t.Fatalf("%v allocations per round", n)
	}
}
