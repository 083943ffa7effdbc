package receiver_test

import (
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/receiver"
)

// stream is a prepared sequence of encoded packets: ODATA from sqn 1, with a
// loss every lossEvery packets that the source repairs after the back-off
// (NCF, then RDATA), and an SPM now and then.
type stream struct {
	pkts  [][]byte
	times []time.Duration
}

func makeStream(t testing.TB, n, lossEvery int) *stream {
	s := &stream{}
	add := func(at time.Duration, p appender) {
		s.pkts = append(s.pkts, encode(t, p))
		s.times = append(s.times, at)
	}
	add(0, spm(0, 0, 0))
	repairs := map[int]uint32{} // packet index -> sqn repaired then
	for i := 1; i <= n; i++ {
		q := uint32(i)
		now := time.Duration(i) * 100 * time.Microsecond
		if r, ok := repairs[i]; ok {
			add(now, ncf(r))
			add(now, rdata(r, 0))
		}
		if i%1000 == 0 {
			add(now, spm(uint32(i/1000), 0, q-1))
		}
		if lossEvery > 0 && i%lossEvery == 0 {
			// Lost: the NAK goes 10 ms after q+1 reveals the gap; the NCF and
			// RDATA come back 1 ms later, with ODATA q+111.
			repairs[i+111] = q
			continue
		}
		add(now, odata(q, 0))
	}
	return s
}

// run feeds packets [from, to) of the stream, draining Poll and Next.
func (s *stream) run(r *receiver.Receiver, from, to int) {
	for i := from; i < to; i++ {
		now := t0.Add(s.times[i])
		_ = r.HandleDatagram(now, src, s.pkts[i])
		for {
			if _, ok := r.Poll(now); !ok {
				break
			}
		}
		for {
			if _, ok := r.Next(); !ok {
				break
			}
		}
		_ = r.Deadline()
	}
}

// Steady state allocates nothing per packet, in order or with loss and
// repair, once every slot of the window has held data once.
func TestSteadyStateDoesNotAllocate(t *testing.T) {
	for _, lossEvery := range []int{0, 50} {
		cfg := config()
		cfg.WindowSQNs = 1000
		r, err := receiver.New(cfg, t0)
		if err != nil {
			t.Fatal(err)
		}
		s := makeStream(t, 20000, lossEvery)
		warm := len(s.pkts) / 2
		s.run(r, 0, warm) // slot buffers, heap and queues at their size
		i := warm
		allocs := testing.AllocsPerRun(len(s.pkts)-warm-1, func() {
			s.run(r, i, i+1)
			i++
		})
		if allocs != 0 {
			t.Errorf("loss every %d: %v allocations per packet", lossEvery, allocs)
		}
		st := r.Stats()
		if st.LostSQNs != 0 || lossEvery > 0 && (st.NAKsSent < 100 || st.Repaired < 100) {
			t.Errorf("loss every %d: stats %+v", lossEvery, st)
		}
	}
}
