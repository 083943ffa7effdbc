package zmtp

import (
	"encoding/binary"
	"sync"
)

// chunkSize is the unit of a subscriber's send queue. Queued bytes live in
// chunks of this size taken from the Pub's pool, so that a queue costs what
// it holds (rounded up to a chunk), never twice that as a doubling buffer
// does, and so that what a peer held goes back to the pool when it is
// written or the peer goes away.
const chunkSize = 64 << 10

// chunkPool recycles chunks between a Pub's peers. Chunks idle in it are
// freed by the garbage collector.
type chunkPool struct{ p sync.Pool }

func (c *chunkPool) get() []byte {
	if b, ok := c.p.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, chunkSize)
}

func (c *chunkPool) put(b []byte) {
	if cap(b) != chunkSize {
		return
	}
	b = b[:0]
	c.p.Put(&b)
}

// sendQueue is the bytes queued for one subscriber: whole frames, in order,
// across chunks.
type sendQueue struct {
	chunks [][]byte // the last one may have room left
	bytes  int
	msgs   int
}

// write appends p, taking chunks from pool as they fill.
func (q *sendQueue) write(pool *chunkPool, p []byte) {
	q.bytes += len(p)
	for len(p) > 0 {
		if len(q.chunks) == 0 || len(q.chunks[len(q.chunks)-1]) == chunkSize {
			q.chunks = append(q.chunks, pool.get())
		}
		last := &q.chunks[len(q.chunks)-1]
		n := min(len(p), chunkSize-len(*last))
		*last = append(*last, p[:n]...)
		p = p[n:]
	}
}

// writeFrame appends one frame: header and body.
func (q *sendQueue) writeFrame(pool *chunkPool, flags byte, body []byte) {
	var hdr [9]byte
	n := 2
	if len(body) > 255 {
		hdr[0] = flags | flagLong
		binary.BigEndian.PutUint64(hdr[1:], uint64(len(body)))
		n = 9
	} else {
		hdr[0], hdr[1] = flags, byte(len(body))
	}
	q.write(pool, hdr[:n])
	q.write(pool, body)
}

// release gives every chunk back to pool and empties the queue.
func (q *sendQueue) release(pool *chunkPool) {
	for i, c := range q.chunks {
		pool.put(c)
		q.chunks[i] = nil
	}
	q.chunks, q.bytes, q.msgs = q.chunks[:0], 0, 0
}
