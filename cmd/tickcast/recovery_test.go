package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/zmtp"
)

// startCmd runs a tickcast command until the test ends, and returns the
// first submatch of re in its stderr once it appears.
func startCmd(t *testing.T, re *regexp.Regexp, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut buffer
	done := make(chan int)
	go func() { done <- run(ctx, &env{stdout: &out, stderr: &errOut}, args) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("%s exited %d: %s", args[0], code, errOut.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(errOut.String()); m != nil {
			return m[1]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s did not say %v: %s", args[0], re, errOut.String())
	return ""
}

// ask sends a recovery request and decodes the reply.
func ask(t *testing.T, ep string, q schema.Request) (schema.Reply, []schema.Message) {
	t.Helper()
	req, err := zmtp.DialRequester(ep)
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	frames, err := req.Request(ctx, schema.NewEncoder(256).EncodeRequest(&q))
	if err != nil {
		t.Fatal(err)
	}
	var m schema.Message
	if err := m.Decode(frames[0]); err != nil {
		t.Fatal(err)
	}
	r := m.Reply
	r.Topic = append([]byte(nil), r.Topic...)
	var msgs []schema.Message
	for i := 2; i < len(frames); i += 2 {
		var b schema.Message
		if err := b.Decode(frames[i]); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, b)
	}
	return r, msgs
}

var recoveryOn = regexp.MustCompile(`(?:serving recovery on|answering on) (tcp://127\.0\.0\.1:\d+)`)

// snapshotThenReplay asks a service for every topic's last value, then for
// the first ticks of one topic, and checks both make sense.
func snapshotThenReplay(t *testing.T, ep string) {
	t.Helper()
	var r schema.Reply
	var snap []schema.Message
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if r, snap = ask(t, ep, schema.Request{Kind: schema.SnapshotRequest}); len(snap) > 0 {
			break
		}
	}
	if r.Status != schema.ReplyOK || len(snap) == 0 || snap[0].Type != schema.Snapshot || r.Session == 0 {
		t.Fatalf("snapshot: %+v, %d messages", r, len(snap))
	}
	topic := strings.Clone(string(r.Topic)) // the last topic of the snapshot
	last := snap[len(snap)-1].Tick(0).Seq
	from := uint64(1)
	r, msgs := ask(t, ep, schema.Request{Kind: schema.ReplayRequest, Session: r.Session, Topic: []byte(topic), From: from, To: last})
	if r.Status == schema.ReplyNotAvailable && r.HeldFrom > 1 && len(msgs) == 0 {
		// A service that joined the feed late holds it from where it
		// joined, and says where that is.
		from = r.HeldFrom
		r, msgs = ask(t, ep, schema.Request{Kind: schema.ReplayRequest, Session: r.Session, Topic: []byte(topic), From: from, To: last})
	}
	if r.Status != schema.ReplyOK && r.Status != schema.ReplyPartial || len(msgs) == 0 || msgs[0].Tick(0).Seq != from {
		t.Fatalf("replay of %s %d..%d: %+v, %d messages", topic, from, last, r, len(msgs))
	}
}

// pub --recovery keeps what it publishes, from its first tick, and serves it.
func TestPubServesItsHistory(t *testing.T) {
	ep := startCmd(t, recoveryOn, "pub", "--endpoint", "tcp://127.0.0.1:0", "--recovery", "tcp://127.0.0.1:0",
		"--retention", "10s,64MiB", "--symbols", "5", "--rate", "2000")
	snapshotThenReplay(t, ep)
}

// tickcast recovery keeps a feed it reads, and serves it.
func TestRecoveryKeepsAFeedAndServesIt(t *testing.T) {
	feed := startPub(t, "--symbols", "5", "--rate", "2000")
	ep := startCmd(t, recoveryOn, "recovery", "--from", feed, "--listen", "tcp://127.0.0.1:0")
	snapshotThenReplay(t, ep)
}

// A subscriber behind a lossy relay, with the publisher's recovery service,
// gets every tick: what the relay dropped comes back through recovery,
// nothing is missing.
func TestSubRecoversWhatALossyRelayDropped(t *testing.T) {
	pubRe := regexp.MustCompile(`serving recovery on (tcp://127\.0\.0\.1:\d+)[\s\S]*publishing .* to \[(tcp://127\.0\.0\.1:\d+)\]`)
	var out, errOut buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pubDone := make(chan int, 1)
	go func() {
		pubDone <- run(ctx, &env{stdout: &out, stderr: &errOut}, []string{"pub", "--endpoint", "tcp://127.0.0.1:0",
			"--recovery", "tcp://127.0.0.1:0", "--subscribers", "1", "--count", "10000", "--rate", "20000", "--symbols", "10"})
	}()
	var m []string
	for deadline := time.Now().Add(10 * time.Second); m == nil && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		m = pubRe.FindStringSubmatch(errOut.String())
	}
	if m == nil {
		t.Fatalf("pub: %s", errOut.String())
	}
	rec, feed := m[1], m[2]
	lossy := startCmd(t, regexp.MustCompile(`to \[(tcp://127\.0\.0\.1:\d+)\]`), "relay", "--from", feed, "--to", "tcp://127.0.0.1:0", "--drop", "0.05")
	code, stdout, stderr := tickcast(context.Background(), "sub", "--endpoint", lossy, "--recovery", rec,
		"--until-end", "--timeout", "60s", "--json", "--quiet")
	if code != exitOK {
		t.Fatalf("sub exited %d: %s", code, stderr)
	}
	lines := jsonLines(t, stdout)
	s := lines[len(lines)-1]
	if s["missing"].(float64) != 0 || s["gaps"].(float64) != 0 || s["recovered"].(float64) == 0 || s["unrecovered"].(float64) != 0 {
		t.Fatalf("summary %v", s)
	}
	if code := <-pubDone; code != exitOK {
		t.Fatalf("pub exited %d: %s", code, errOut.String())
	}
}

// A late joiner with --snapshot gets every topic's last value first, then
// the live ticks right after it: no gap, no duplicate.
func TestALateJoinerStartsFromASnapshot(t *testing.T) {
	m := startCmd(t, regexp.MustCompile(`(serving recovery on tcp://127\.0\.0\.1:\d+[\s\S]*publishing .* to \[tcp://127\.0\.0\.1:\d+\])`),
		"pub", "--endpoint", "tcp://127.0.0.1:0", "--recovery", "tcp://127.0.0.1:0", "--symbols", "10", "--rate", "5000")
	eps := regexp.MustCompile(`tcp://127\.0\.0\.1:\d+`).FindAllString(m, 2)
	rec, feed := eps[0], eps[1]
	// The subscriber joins late, on purpose: once the feed has run long
	// enough for most topics to have a last value.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, msgs := ask(t, rec, schema.Request{Kind: schema.SnapshotRequest}); len(msgs) >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the feed did not start")
		}
	}
	code, stdout, stderr := tickcast(context.Background(), "sub", "--endpoint", feed, "--recovery", rec, "--snapshot",
		"--count", "2000", "--timeout", "30s", "--json")
	if code != exitOK {
		t.Fatalf("sub exited %d: %s", code, stderr)
	}
	lines := jsonLines(t, stdout)
	snap, first := map[string]float64{}, map[string]float64{}
	for _, l := range lines[:len(lines)-1] {
		topic, _ := l["topic"].(string)
		switch l["type"] {
		case "snapshot":
			if _, ok := first[topic]; ok {
				t.Fatalf("%s: a snapshot after its live ticks", topic)
			}
			snap[topic] = l["seq"].(float64)
		case "tick":
			if _, ok := first[topic]; !ok {
				first[topic] = l["seq"].(float64)
				if s, ok := snap[topic]; ok && first[topic] != s+1 {
					t.Fatalf("%s: snapshot at %v, first live tick %v", topic, s, first[topic])
				}
			}
		}
	}
	s := lines[len(lines)-1]
	if len(snap) == 0 || s["snapshots"].(float64) != float64(len(snap)) || s["gaps"].(float64) != 0 || s["missing"].(float64) != 0 {
		t.Fatalf("%d snapshot lines; summary %v", len(snap), s)
	}
}
