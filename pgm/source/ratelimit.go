package source

// bucket is OpenPGM's leaky bucket (rate_control.c) without the clock
// syscall: tokens accrue at rate bytes per second up to burst bytes, a packet
// may go when the tokens cover its cost, and readyAt says when that will be.
// Tokens are kept in byte-nanoseconds per second (bytes × 1e9) so that the
// arithmetic is exact in integers.
type bucket struct {
	rate   int64 // bytes per second; 0 = unlimited
	burst  int64 // bytes
	tokens int64 // bytes × 1e9, at time at
	at     int64 // ns
}

const nsPerSec = 1_000_000_000

// newBucket returns a full bucket, as OpenPGM pre-fills it. maxCost is the
// largest packet cost; the bucket always holds at least that, or such a
// packet could never go.
func newBucket(rate, burst int64, maxTPDU int, maxCost int64) bucket {
	if rate <= 0 {
		return bucket{}
	}
	if burst == 0 {
		if rate/1000 >= int64(maxTPDU) {
			burst = rate / 1000
		} else {
			burst = rate
		}
	}
	burst = max(burst, maxCost)
	burst = min(burst, 1<<32) // keeps tokens × 1e9 far from overflowing
	return bucket{rate: rate, burst: burst, tokens: burst * nsPerSec}
}

// refill brings the tokens up to time now.
func (b *bucket) refill(now int64) {
	if now <= b.at {
		return
	}
	full := b.burst * nsPerSec
	if el := now - b.at; el >= full/b.rate+1 {
		b.tokens = full // also avoids overflowing el*rate
	} else {
		b.tokens = min(full, b.tokens+el*b.rate)
	}
	b.at = now
}

// readyAt returns the earliest time at which a packet of cost bytes may go.
// Before b.at it returns b.at, which callers read as "now".
func (b *bucket) readyAt(cost int64) int64 {
	if b.rate == 0 {
		return b.at
	}
	need := cost*nsPerSec - b.tokens
	if need <= 0 {
		return b.at
	}
	return b.at + (need+b.rate-1)/b.rate
}

// take charges cost bytes at time now if the tokens cover it.
func (b *bucket) take(now, cost int64) bool {
	if b.rate == 0 {
		return true
	}
	b.refill(now)
	if b.tokens < cost*nsPerSec {
		return false
	}
	b.tokens -= cost * nsPerSec
	return true
}
