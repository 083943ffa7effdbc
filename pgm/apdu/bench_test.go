package apdu_test

import (
	"strconv"
	"testing"

	"github.com/tickcast/tickcast/pgm/apdu"
)

// Message sizes of the benchmarks: a two-frame message of a 4-byte topic and
// a body, as the feed publishes.
var benchSizes = []int{40, 100, 256, 1024}

// BenchmarkPack measures packing into 1428-byte APDUs and taking them out;
// MB/s counts message bodies.
func BenchmarkPack(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var p apdu.Packer
			topic, body := []byte("AAPL"), make([]byte, n)
			b.SetBytes(int64(len(topic) + n))
			for b.Loop() {
				_ = p.Add(topic, body)
				for a := p.Next(); a != nil; a = p.Next() {
				}
			}
		})
	}
}

// BenchmarkDecode measures decoding a packed stream back into messages;
// MB/s counts message bodies.
func BenchmarkDecode(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var p apdu.Packer
			topic, body := []byte("AAPL"), make([]byte, n)
			const msgs = 1000
			for range msgs {
				_ = p.Add(topic, body)
			}
			p.Flush()
			apdus := takeAll(&p)
			var d apdu.Decoder
			b.SetBytes(int64(msgs * (len(topic) + n)))
			for b.Loop() {
				for _, a := range apdus {
					_ = d.Feed(a)
					for m := d.Next(); m != nil; m = d.Next() {
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*msgs), "ns/msg")
		})
	}
}
