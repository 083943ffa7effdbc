package publisher

import (
	"strconv"
	"testing"
	"time"
)

func TestHeartbeatSchedule(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	h := newHeartbeats(100*time.Millisecond, 400*time.Millisecond, t0)
	a := &Topic{name: []byte("A"), hb: topicHB{index: -1}}
	b := &Topic{name: []byte("B"), hb: topicHB{index: -1}}

	var sent []string
	step := func(ms int) {
		now := at(ms)
		if h.controlDue(now) {
			sent = append(sent, "ctl@"+strconv.Itoa(ms))
		}
		h.dueTopics(now, func(t *Topic) { sent = append(sent, string(t.name)+"@"+strconv.Itoa(ms)) })
	}

	// The control heartbeat is due at once (it announces the session), then
	// every interval, whatever the data.
	step(0)
	h.data(a, at(10))
	h.data(b, at(30))
	h.data(a, at(60)) // A is busy: its heartbeat moves on
	if got := h.next(); !got.Equal(at(100)) {
		t.Fatalf("next = %v, want the control heartbeat at 100ms", got.Sub(t0))
	}
	for ms := 0; ms <= 1200; ms += 10 {
		step(ms)
	}
	// Group by kind: the order across kinds within one step is not specified.
	got := map[string][]string{}
	for _, s := range sent {
		got[s[:1]] = append(got[s[:1]], s)
	}
	check := func(key string, want ...string) {
		t.Helper()
		if len(got[key]) != len(want) {
			t.Fatalf("%s heartbeats = %v, want %v", key, got[key], want)
		}
		for i := range want {
			if got[key][i] != want[i] {
				t.Fatalf("%s heartbeats = %v, want %v", key, got[key], want)
			}
		}
	}
	// Backoff doubles from the interval and is capped at 400ms.
	check("B", "B@130", "B@330", "B@730", "B@1130")
	check("A", "A@160", "A@360", "A@760", "A@1160")
	check("c", "ctl@0", "ctl@100", "ctl@200", "ctl@300", "ctl@400", "ctl@500", "ctl@600",
		"ctl@700", "ctl@800", "ctl@900", "ctl@1000", "ctl@1100", "ctl@1200")

	// New data resets the backoff.
	sent = nil
	got = map[string][]string{}
	h.data(a, at(1205))
	for ms := 1210; ms <= 1600; ms += 10 {
		step(ms)
	}
	for _, s := range sent {
		got[s[:1]] = append(got[s[:1]], s)
	}
	check("A", "A@1310", "A@1510")
}

func TestControlHeartbeatAfterStallDoesNotBurst(t *testing.T) {
	t0 := time.Unix(0, 0)
	h := newHeartbeats(time.Second, time.Minute, t0)
	if !h.controlDue(t0) {
		t.Fatal("first control heartbeat not due at start")
	}
	// The sender was stalled for 10 intervals: one heartbeat, not ten.
	late := t0.Add(10*time.Second + 300*time.Millisecond)
	n := 0
	for h.controlDue(late) {
		n++
	}
	if n != 1 {
		t.Fatalf("%d heartbeats after a stall, want 1", n)
	}
	if want := late.Add(time.Second); !h.next().Equal(want) {
		t.Fatalf("next = %v, want %v", h.next(), want)
	}
}
