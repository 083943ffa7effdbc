package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/source"
	"github.com/tickcast/tickcast/pgm/transport"
	"github.com/tickcast/tickcast/pgm/zmq"
	"github.com/tickcast/tickcast/subscriber"
)

// TestHelperProcess is not a test: it is a tickcast PGM peer that the
// two-host tests run inside a network namespace by re-executing the test
// binary (ip netns exec NS test.binary -test.run=^TestHelperProcess$),
// configured through PGM_HELPER_* variables. Its output, one line each:
//
//	READY                           the socket is open
//	M ["hex frame", ...]            a message (sub)
//	L {"SQN":..,"Count":..,...}     an unrecoverable loss (sub)
//	SENT                            everything is queued and flushed (pub)
//	STATS {...}                     counters, at the end
func TestHelperProcess(t *testing.T) {
	role := os.Getenv("PGM_HELPER_ROLE")
	if role == "" {
		return // not a test of its own: the two-host tests run it as a process
	}
	env := func(k string, def int) int {
		if v, err := strconv.Atoi(os.Getenv("PGM_HELPER_" + k)); err == nil {
			return v
		}
		return def
	}
	ep := os.Getenv("PGM_HELPER_ENDPOINT")
	ctx := context.Background()
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
	}
	switch role {
	case "pub":
		pub, err := zmq.NewPub(ctx, ep, zmq.PubConfig{Sender: transport.SenderConfig{
			Source: source.Config{Rate: int64(env("RATE", 20_000_000/8))}}, Linger: 10 * time.Second})
		if err != nil {
			say("ERROR %v", err)
			os.Exit(1)
		}
		say("READY")
		time.Sleep(time.Duration(env("START_MS", 300)) * time.Millisecond)
		for _, m := range readMessages(os.Getenv("PGM_HELPER_FILE")) {
			pub.Send(m...)
		}
		pub.Flush()
		for pub.Stats().Backlog > 0 {
			time.Sleep(5 * time.Millisecond)
		}
		say("SENT")
		time.Sleep(time.Duration(env("HOLD_MS", 3000)) * time.Millisecond) // for repairs
		st := pub.Stats()
		pub.Close()
		js, _ := json.Marshal(st)
		say("STATS %s", js)
	case "benchsub":
		// Throughput: count messages, time them from the first.
		sub, err := zmq.NewSub(ctx, ep, zmq.SubConfig{Receiver: transport.ReceiverConfig{
			Receiver: receiver.Config{Rate: int64(env("RATE", 0)), RecoveryInterval: time.Duration(env("RECOVERY_MS", 0)) * time.Millisecond}}})
		if err != nil {
			say("ERROR %v", err)
			os.Exit(1)
		}
		sub.Subscribe(nil)
		say("READY")
		count := env("COUNT", 1000000)
		got, lost := 0, uint64(0)
		var first time.Time
		for got < count {
			b, err := sub.Next(time.Now().Add(10 * time.Second))
			if err != nil || len(b.Msgs)+len(b.Events) == 0 {
				break
			}
			if first.IsZero() {
				first = b.Time
			}
			got += len(b.Msgs)
			for _, e := range b.Events {
				lost += uint64(e.Count)
			}
		}
		st := sub.Stats()
		say("RESULT %d %.6f %d %d", got, time.Since(first).Seconds(), st.Receiver.Receiver.ODATA+st.Receiver.Receiver.RDATA, lost)
		sub.Close()
	case "feedsub":
		src, err := endpoint.Source(ep)
		if err != nil {
			say("ERROR %v", err)
			os.Exit(1)
		}
		fs, err := subscriber.New(ctx, subscriber.WithSource(src))
		if err != nil {
			say("ERROR %v", err)
			os.Exit(1)
		}
		say("READY")
		ticks, gaps := 0, 0
		var first time.Time
		timer := time.AfterFunc(60*time.Second, func() { fs.Close() })
	feed:
		for {
			ev, err := fs.Next(context.Background())
			if err != nil {
				break
			}
			switch ev.Kind {
			case subscriber.EventTicks:
				if first.IsZero() {
					first = ev.RecvTime
				}
				ticks += len(ev.Ticks)
			case subscriber.EventGap:
				gaps++
			case subscriber.EventSessionEnd:
				break feed
			}
		}
		timer.Stop()
		say("RESULT %d %.6f %d", ticks, time.Since(first).Seconds(), gaps)
		fs.Close()
	case "sub":
		rc := receiver.Config{WindowSQNs: env("WINDOW", 0)}
		if r := env("NAK_RETRIES", 0); r > 0 {
			// Give up fast when repair is impossible: the test waits.
			rc.NAKDataRetries, rc.NAKNCFRetries = r, r
			rc.NAKRDataInterval, rc.NAKRepeatInterval = 50*time.Millisecond, 50*time.Millisecond
		}
		sub, err := zmq.NewSub(ctx, ep, zmq.SubConfig{Receiver: transport.ReceiverConfig{Receiver: rc}})
		if err != nil {
			say("ERROR %v", err)
			os.Exit(1)
		}
		sub.Subscribe(nil)
		say("READY")
		time.Sleep(time.Duration(env("PAUSE_MS", 0)) * time.Millisecond) // a stalled application
		deadline := time.Now().Add(time.Duration(env("TIMEOUT_MS", 30000)) * time.Millisecond)
	loop:
		for time.Now().Before(deadline) {
			b, err := sub.Next(deadline)
			if err != nil {
				break
			}
			for _, e := range b.Events {
				if e.Kind == zmq.Loss {
					js, _ := json.Marshal(e)
					say("L %s", js)
				}
			}
			for _, m := range b.Msgs {
				var hexes []string
				for _, f := range m.Frames {
					hexes = append(hexes, hex.EncodeToString(f))
				}
				js, _ := json.Marshal(hexes)
				say("M %s", js)
				if string(m.Frames[0]) == "END" {
					break loop
				}
			}
		}
		js, _ := json.Marshal(sub.Stats())
		say("STATS %s", js)
		sub.Close()
	}
}

// readMessages reads a file written by batchFile.
func readMessages(path string) [][][]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var msgs [][][]byte
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var hexes []string
		json.Unmarshal(l, &hexes)
		var m [][]byte
		for _, h := range hexes {
			f, _ := hex.DecodeString(h)
			m = append(m, f)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// helperOutput is what a sub helper printed.
type helperOutput struct {
	msgs   [][][]byte
	losses []zmq.Event
	stats  string
}

// readHelperSub collects a sub helper's output until its STATS line.
func readHelperSub(t *testing.T, p *peer, d time.Duration) helperOutput {
	t.Helper()
	var o helperOutput
	deadline := time.After(d)
	for {
		var l string
		var ok bool
		select {
		case l, ok = <-p.lines:
		case <-deadline:
			t.Fatalf("helper sub: no end after %v (%d messages, %d losses): %s", d, len(o.msgs), len(o.losses), p.errb.String())
		}
		if !ok {
			t.Fatalf("helper sub exited: %s", p.errb.String())
		}
		kind, rest, _ := strings.Cut(l, " ")
		switch kind {
		case "M":
			var hexes []string
			if err := json.Unmarshal([]byte(rest), &hexes); err != nil {
				t.Fatalf("helper line %q: %v", l, err)
			}
			var m [][]byte
			for _, h := range hexes {
				f, _ := hex.DecodeString(h)
				m = append(m, f)
			}
			o.msgs = append(o.msgs, m)
		case "L":
			var e zmq.Event
			if err := json.Unmarshal([]byte(rest), &e); err != nil {
				t.Fatalf("helper line %q: %v", l, err)
			}
			o.losses = append(o.losses, e)
		case "STATS":
			o.stats = rest
			return o
		case "ERROR":
			t.Fatalf("helper: %s", l)
		}
	}
}
