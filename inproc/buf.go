package inproc

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// Message buffers. Send copies a message (topic, then body) into one
// buffer, which every subscriber it is queued for refers to. A buffer
// counts those references; the last subscriber to let go of it (by calling
// Next again, or by closing with it still queued) puts it back in its
// publisher's pool. A buffer is never written while referenced: Send fills
// it before queueing it anywhere, and nothing writes it after.
//
// Sizes come in classes, four per power of two (64, 80, 96, 112, 128, 160,
// ... 64 KiB), so that a buffer wastes at most a fifth of itself and a pool
// holds buffers of one size. A message larger than maxPooled gets a buffer
// of its own size, which the garbage collector frees.
const (
	minPooled = 64
	maxPooled = 64 << 10
	// nClasses: one for minPooled, then four per power of two up to
	// maxPooled.
	nClasses = 1 + 4*(16-6)
	// bias is the count a buffer starts with while Send queues it: far
	// more than there can be subscribers, so that subscribers letting go
	// of it meanwhile never bring it to zero; Send takes it off, less the
	// references it made, once it is done.
	bias = 1 << 40
)

// sizeClass returns the class of a buffer for n bytes and its size; class
// -1 for a message too large to pool (its size is n).
func sizeClass(n int) (class, size int) {
	if n <= minPooled {
		return 0, minPooled
	}
	if n > maxPooled {
		return -1, n
	}
	e := bits.Len(uint(n-1)) - 1 // 2^e < n <= 2^(e+1), e >= 6
	step := 1 << (e - 2)
	q := (n - 1<<e + step - 1) / step // 1..4
	return 1 + (e-6)*4 + q - 1, 1<<e + q*step
}

// buffer is one pooled message buffer.
type buffer struct {
	b    []byte
	refs atomic.Int64
	pool *sync.Pool
}

// release lets go of k references; the last one puts the buffer back.
func (b *buffer) release(k int64) {
	if b.refs.Add(-k) == 0 {
		b.pool.Put(b)
	}
}

// bufPool is a publisher's buffers, by class. Buffers idle in it are freed
// by the garbage collector.
type bufPool struct{ classes [nClasses]sync.Pool }

// fill returns a buffer of the class, holding topic then body, with the
// bias count (nil for an unpooled class: data is then a buffer of its own),
// and the data.
func (p *bufPool) fill(class, size int, topic, body []byte) (*buffer, []byte) {
	n := len(topic) + len(body)
	if class < 0 {
		data := make([]byte, n)
		copy(data[copy(data, topic):], body)
		return nil, data
	}
	pool := &p.classes[class]
	b, _ := pool.Get().(*buffer)
	if b == nil {
		b = &buffer{b: make([]byte, size), pool: pool}
	}
	b.refs.Store(bias)
	data := b.b[:n:n] // full slice: an append by a reader cannot reach past it
	copy(data[copy(data, topic):], body)
	return b, data
}
