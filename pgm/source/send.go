package source

import (
	"time"
)

// Send turns an APDU (from apdu.Packer, at most MaxTSDU bytes) into the next
// ODATA and returns it, to be sent to the group. The packet stays in the
// transmit window for repairs; the returned slice is valid until the next
// call on the Source.
//
// Send fails with ErrRateLimited before SendTime(len(apdu)): the caller
// keeps the APDU and sleeps until then, as libzmq does with
// PGM_RATE_REMAIN. The rate limit costs no syscall: it runs on the now the
// caller passes.
func (s *Source) Send(now time.Time, apdu []byte) ([]byte, error) {
	t := s.advance(now)
	if s.closed {
		return nil, ErrClosed
	}
	if len(apdu) == 0 || len(apdu) > s.cfg.MaxTSDU {
		return nil, ErrBadAPDU
	}
	cost := s.cost(s.odataLen(len(apdu)))
	if !s.odata.take(t, cost) {
		s.stats.RateLimited++
		return nil, ErrRateLimited
	}
	s.budget.earn(cost)
	// OpenPGM writes the trail before adding: once the window is full,
	// ODATA n carries trail n-size although n-size is evicted by this add.
	s.data.Trail = s.txw.trail
	sl := s.txw.push()
	s.data.SQN = s.txw.lead
	s.data.Payload = apdu
	pkt, _ := s.data.Append(sl.pkt[:0]) // fits: the slot holds MaxTSDU
	s.data.Payload = nil
	sl.pkt = pkt
	s.stats.ODATASent++
	s.stats.ODATABytes += uint64(len(apdu))
	s.restartHeartbeat(t)
	return pkt, nil
}

// SendTime returns the earliest time at which Send accepts an APDU of n
// bytes. A time not after the last now passed to the Source means now.
func (s *Source) SendTime(n int) time.Time {
	return s.clock.Time(max(s.clock.Last(), s.odata.readyAt(s.cost(s.odataLen(n)))))
}

// odataLen is the length of an ODATA carrying n payload bytes.
func (s *Source) odataLen(n int) int { return s.maxLen - s.cfg.MaxTSDU + n }
