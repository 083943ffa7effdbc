//go:build measure

package e2e

// Measurements for the record (issue "Recovery"): how long a subscriber
// waits for the ticks an outage cost it, from asking the recovery service
// for the hole to having them, for outages of 10 ms, 100 ms and 1 s. A
// publisher at 50,000 ticks/s on 50
// topics sends over tcp on loopback through a line that drops every data
// message for the outage (heartbeats and the end of the session pass, as a
// lossy link drops data, not the wire); its recovery service keeps what it
// publishes; the subscriber asks it. Run with
//
//	go test -tags measure -run TestMeasureRecovery -v -timeout 10m ./e2e/
//
// (inside unshare -n, as make test runs: the traffic stays on loopback).

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/recovery"
	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/subscriber"
)

// outageSink drops every data message while cut is set.
type outageSink struct {
	port.Sink
	cut     atomic.Bool
	dropped atomic.Uint64
}

func (o *outageSink) Send(m port.Message) error {
	if o.cut.Load() && !m.Control {
		o.dropped.Add(1)
		return nil
	}
	return o.Sink.Send(m)
}

func (o *outageSink) WaitSubscribers(ctx context.Context, n int) error {
	return o.Sink.(port.SubscriberWaiter).WaitSubscribers(ctx, n)
}

func TestMeasureRecovery(t *testing.T) {
	for _, outage := range []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second} {
		t.Run(outage.String(), func(t *testing.T) { measureRecovery(t, outage) })
	}
}

func measureRecovery(t *testing.T, outage time.Duration) {
	const (
		rate     = 50_000
		topics   = 50
		runFor   = 3 * time.Second
		outageAt = time.Second
	)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := recovery.NewServer("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tcp, err := endpoint.Sink("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	line := &outageSink{Sink: tcp}
	pub, err := publisher.New(publisher.WithSink(line, srv.Sink()))
	if err != nil {
		t.Fatal(err)
	}
	src, err := endpoint.Source(tcp.Stats().Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var reqs []port.Requester // as tickcast.WithRecovery opens them
	for range subscriber.RecoveryConnections {
		req, err := endpoint.Requester(srv.Endpoint())
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, req)
	}
	sub, err := subscriber.New(ctx, subscriber.WithSource(src), subscriber.WithRecovery(reqs...))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := pub.WaitSubscribers(ctx, 1); err != nil {
		t.Fatal(err)
	}

	// The publisher, paced in steps of a millisecond.
	go func() {
		start := time.Now()
		sent := 0
		for i := 0; time.Since(start) < runFor; i++ {
			el := time.Since(start)
			line.cut.Store(el >= outageAt && el < outageAt+outage)
			for due := int(el.Seconds() * rate); sent < due; sent++ {
				pub.Publish(fmt.Sprint("T", sent%topics), schema.Tick{Price: int64(sent), EventTime: time.Now().UnixNano()})
			}
			time.Sleep(time.Millisecond)
		}
		line.cut.Store(false)
		pub.Close()
	}()

	var took []time.Duration
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind {
		case subscriber.EventRecovered:
			took = append(took, ev.Took)
		case subscriber.EventGap:
			t.Errorf("gap %s %+v: %s", ev.Topic, ev.Gap, ev.Detail)
		}
		if ev.Kind == subscriber.EventSessionEnd {
			break
		}
	}
	st := sub.Stats()
	slices.Sort(took)
	q := func(p float64) time.Duration {
		if len(took) == 0 {
			return 0
		}
		return took[min(len(took)-1, int(p*float64(len(took))))]
	}
	t.Logf("outage %v: %d data messages dropped; %d holes recovered (%d ticks), %d missing; time from asking to having: p50 %v, p99 %v, max %v",
		outage, line.dropped.Load(), len(took), st.Recovered, st.Missing, q(0.5), q(0.99), q(1))
	if st.Missing != 0 {
		t.Errorf("%d ticks missing", st.Missing)
	}
}
