package tickcast

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"

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
