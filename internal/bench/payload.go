package bench

import (
	"encoding/binary"
	"math"
)

// The libzmq and zmq4 runs send raw payloads of the same size as the
// tickcast messages they stand in for, with a header the C peer reads too
// (libzmqpeer/peer.c, which must agree):
//
//	[0:8]   intended send time, ns since the Unix epoch (int64, little endian);
//	        in a throughput run, the time the message was built
//	[8:16]  index of the message's first tick (int64): ≥ 0 measured,
//	        < 0 warm-up, endIndex: the run is over
//	[16:20] ticks the message stands for (uint32)
//
// and zeros up to the size.
const rawHeaderSize = 20

// endIndex marks the message that ends a run.
const endIndex = math.MinInt64

// benchTopic is the topic every run publishes on (the first, with several).
const benchTopic = "BENCH"

func putRaw(b []byte, intended, index int64, ticks uint32) {
	binary.LittleEndian.PutUint64(b[0:], uint64(intended))
	binary.LittleEndian.PutUint64(b[8:], uint64(index))
	binary.LittleEndian.PutUint32(b[16:], ticks)
}

// parseRaw reads a raw payload's header; ok is false for a payload too
// short to have one.
func parseRaw(b []byte) (intended, index int64, ticks uint32, ok bool) {
	if len(b) < rawHeaderSize {
		return 0, 0, 0, false
	}
	return int64(binary.LittleEndian.Uint64(b[0:])), int64(binary.LittleEndian.Uint64(b[8:])),
		binary.LittleEndian.Uint32(b[16:]), true
}

// warmupIndex is the index tick i of a schedule carries after n warm-up
// ticks: the warm-up's run from −n to −1, the measured ones from 0.
func warmupIndex(i, n int64) int64 { return i - n }
