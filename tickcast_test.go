package tickcast

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/subscriber"
)

// A bad endpoint is an error wrapping ErrEndpoint, from either call.
func TestABadEndpointWrapsErrEndpoint(t *testing.T) {
	for _, ep := range []string{"tcp://127.0.0.1", "udp://127.0.0.1:1", "epgm://nosuchif0;239.192.1.1:5555", ""} {
		if _, err := NewPublisher(ep); !errors.Is(err, ErrEndpoint) {
			t.Errorf("NewPublisher(%q): %v, want ErrEndpoint", ep, err)
		}
		if _, err := Subscribe(context.Background(), ep, nil); !errors.Is(err, ErrEndpoint) {
			t.Errorf("Subscribe(%q): %v, want ErrEndpoint", ep, err)
		}
	}
}

// An endpoint in use is the system's error, as the system says it.
func TestAnAddressInUseIsTheSystemsError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = NewPublisher("tcp://" + ln.Addr().String())
	if !errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, ErrEndpoint) {
		t.Fatalf("NewPublisher on an address in use: %v, want EADDRINUSE and not ErrEndpoint", err)
	}
}

// When a later line fails, the lines already opened are closed: the first
// endpoint can be bound again at once.
func TestAFailedNewPublisherReleasesWhatItOpened(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := ln.Addr().String()
	ln.Close()
	if _, err := NewPublisher("tcp://"+free, WithLine("tcp://127.0.0.1")); !errors.Is(err, ErrEndpoint) {
		t.Fatalf("NewPublisher with a bad second line: %v", err)
	}
	pub, err := NewPublisher("tcp://" + free)
	if err != nil {
		t.Fatalf("the first line was not released: %v", err)
	}
	pub.Close()
}

// Options for the other side are refused, not ignored.
func TestOptionsForTheOtherSideAreRefused(t *testing.T) {
	if _, err := NewPublisher("tcp://127.0.0.1:0", WithSubscriberOptions(subscriber.WithMaxTopics(10))); err == nil {
		t.Error("NewPublisher took subscriber options")
	}
	if _, err := Subscribe(context.Background(), "tcp://127.0.0.1:1", nil, WithPublisherOptions(publisher.WithMaxBatch(10))); err == nil {
		t.Error("Subscribe took publisher options")
	}
}

// A multicast publisher cannot count its subscribers, and says so.
func TestAMulticastPublisherCannotWaitForSubscribers(t *testing.T) {
	pub, err := NewPublisher("epgm://127.0.0.1;239.192.61.1:6161")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.WaitSubscribers(context.Background(), 1); !errors.Is(err, publisher.ErrCannotCount) {
		t.Fatalf("WaitSubscribers on epgm: %v, want ErrCannotCount", err)
	}
}

// A publisher with a recovery service and a subscriber that asks it: the
// subscriber joins late, starts from the snapshot, and gets every tick after
// it.
func TestRecoveryAndSnapshotOptions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	svc := "tcp://" + ln.Addr().String()
	ln.Close()
	pub, err := NewPublisher("tcp://127.0.0.1:0", WithRecoveryService(svc))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for i := range 10 {
		pub.Publish("AAPL", Tick{Price: int64(i)})
	}
	var feed string
	for _, s := range pub.Stats().Sinks {
		if s.Endpoint != svc {
			feed = s.Endpoint
		}
	}
	// The service has the ten ticks once a snapshot says AAPL is at 10.
	sub, err := Subscribe(ctx, feed, []string{"AAPL"}, WithRecovery(svc), WithSnapshot())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := pub.WaitSubscribers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	pub.Publish("AAPL", Tick{Price: 10})
	// The snapshot first, then every tick after it up to the last: the
	// ones published before the subscriber came, through recovery if the
	// snapshot is older than the first live tick.
	var got []uint64
	for len(got) == 0 || got[len(got)-1] < 11 {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind {
		case EventSnapshot, EventTicks:
			if len(got) == 0 && ev.Kind != EventSnapshot {
				t.Fatalf("ticks before the snapshot: %v", ev.Ticks)
			}
			for _, tk := range ev.Ticks {
				if len(got) > 0 && tk.Seq != got[len(got)-1]+1 {
					t.Fatalf("%d after %v", tk.Seq, got)
				}
				got = append(got, tk.Seq)
			}
		case EventGap:
			t.Fatalf("gap %+v", ev.Gap)
		}
	}
}
