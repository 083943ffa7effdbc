package source

import "github.com/tickcast/tickcast/pgm/wire"

// SPM scheduling, as OpenPGM does it (socket.c, timer.c, source.c):
//   - three SPMs when the session starts (New sets spmDue);
//   - an ambient SPM on a free-running timer, whatever the traffic;
//   - heartbeat SPMs after data, on the HeartbeatSPM schedule restarted by
//     every ODATA and RDATA, so that receivers learn the lead quickly when
//     the last packets before a pause were lost;
//   - one SPM as soon as possible after an SPMR;
//   - three SPMs with OPT_FIN on Close.

// maxSPMDue bounds the SPMs waiting to go out: a flood of SPMRs, or a caller
// that stops polling, must not queue an SPM storm.
const maxSPMDue = 3

func (s *Source) queueSPM() {
	if s.spmDue < maxSPMDue {
		s.spmDue++
	}
}

// runTimers fires the ambient and heartbeat timers due at t. A timer that
// fell behind by several periods (the caller was not scheduled) fires once
// and skips the missed periods rather than sending a burst of SPMs.
func (s *Source) runTimers(t int64) {
	if s.closed {
		s.timersNext = 1<<63 - 1
		return
	}
	if t >= s.ambientAt {
		s.queueSPM()
		s.ambientAt += s.cfg.ambient
		if s.ambientAt <= t {
			s.ambientAt = t + s.cfg.ambient
		}
	}
	if s.heartbeat && t >= s.hbAt {
		s.queueSPM()
		for s.heartbeat && s.hbAt <= t {
			s.nextHeartbeat()
		}
	}
	s.timersNext = s.ambientAt
	if s.heartbeat {
		s.timersNext = min(s.timersNext, s.hbAt)
	}
}

// restartHeartbeat starts the heartbeat schedule from data sent at t.
func (s *Source) restartHeartbeat(t int64) {
	if s.closed || len(s.cfg.heartbeat) == 0 {
		return
	}
	s.heartbeat = true
	s.hbIndex = 0
	s.hbAt = t + s.cfg.heartbeat[0]
	s.timersNext = min(s.ambientAt, s.hbAt)
}

func (s *Source) nextHeartbeat() {
	s.hbIndex++
	if s.hbIndex >= len(s.cfg.heartbeat) {
		s.heartbeat = false
		return
	}
	s.hbAt += s.cfg.heartbeat[s.hbIndex]
}

func (s *Source) encodeSPM(fin bool) []byte {
	s.spm.SQN = s.spmSQN
	s.spmSQN++
	s.spm.Trail, s.spm.Lead = s.txw.trail, s.txw.lead
	s.spm.Options.Fin = fin
	pkt, _ := s.spm.Append(s.out[:0]) // checked in New
	s.stats.SPMsSent++
	return pkt
}

// onSPMR answers an SPMR for this session with an SPM as soon as the caller
// polls. SPMRs arriving before that share the one SPM.
func (s *Source) onSPMR(p *wire.SPMR) error {
	if p.DataPort != s.cfg.DataPort {
		s.stats.IgnoredPort++
		return errPort
	}
	if p.TSI != s.cfg.TSI {
		s.stats.IgnoredTSI++
		return errTSI
	}
	s.stats.SPMRs++
	if s.spmDue == 0 {
		s.spmDue = 1
	}
	return nil
}
