package endpoint

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/transport"
	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/zmtp"
)

// CZMQ's prefixes: "@" binds, ">" connects, none keeps the default; the
// rest is the endpoint the transport is given.
func TestSplitMode(t *testing.T) {
	for _, tt := range []struct {
		in   string
		mode Mode
		bare string
	}{
		{"tcp://127.0.0.1:6001", Default, "tcp://127.0.0.1:6001"},
		{"@tcp://*:6001", Bind, "tcp://*:6001"},
		{">tcp://127.0.0.1:6001", Connect, "tcp://127.0.0.1:6001"},
		{"@ipc:///tmp/feed.sock", Bind, "ipc:///tmp/feed.sock"},
		{">inproc://feed", Connect, "inproc://feed"},
		{"@inproc://feed", Bind, "inproc://feed"},
		{"@>tcp://127.0.0.1:1", Bind, ">tcp://127.0.0.1:1"}, // one prefix: the rest is no endpoint
		{"@", Bind, ""},
		{"", Default, ""},
	} {
		if mode, bare := SplitMode(tt.in); mode != tt.mode || bare != tt.bare {
			t.Errorf("SplitMode(%q) = %v, %q; want %v, %q", tt.in, mode, bare, tt.mode, tt.bare)
		}
	}
}

// A prefix decides which side binds, and so what the endpoint needs: one
// that connects needs a host and a port from 1 to 65535, one that binds
// takes * and 0, whether it is a sink's or a source's. A multicast endpoint
// takes no prefix. Errors are as TestValidate's: one line naming the
// endpoint as written, wrapping ErrEndpoint and the transport's sentinel.
func TestValidateBindOrConnect(t *testing.T) {
	tests := []struct {
		endpoint   string
		sink, src  bool
		why        string
		transportE error
	}{
		{">tcp://127.0.0.1:6001", true, true, "", nil},
		{">tcp://localhost:6001", true, true, "", nil},
		{"@tcp://127.0.0.1:6001", true, true, "", nil},
		{"@tcp://127.0.0.1:0", true, true, "", nil},
		{"@tcp://*:6001", true, true, "", nil},
		{"@tcp://*:*", true, true, "", nil},
		{"@tcp://:6001", true, true, "", nil},
		{">tcp://*:6001", false, false, "no host to connect to", zmtp.ErrEndpoint},
		{">tcp://127.0.0.1:0", false, false, "from 1 to 65535", zmtp.ErrEndpoint},
		{">tcp://127.0.0.1:*", false, false, "from 1 to 65535", zmtp.ErrEndpoint},
		{">tcp://127.0.0.1", false, false, "no port", zmtp.ErrEndpoint},
		{"@tcp://127.0.0.1:99999", false, false, `port "99999"`, zmtp.ErrEndpoint},
		{"@ipc:///tmp/feed.sock", true, true, "", nil},
		{">ipc:///tmp/feed.sock", true, true, "", nil},
		{">ipc://", false, false, "no path", zmtp.ErrEndpoint},
		{"@epgm://127.0.0.1;239.192.1.1:5555", false, false, "neither binds nor connects", transport.ErrEndpoint},
		{">pgm://lo;239.192.1.1:5555", false, false, "neither binds nor connects", transport.ErrEndpoint},
		{"@foo://x", false, false, `unsupported transport "foo"`, zmtp.ErrEndpoint},
		{"@>tcp://127.0.0.1:6001", false, false, `unsupported transport ">tcp"`, zmtp.ErrEndpoint},
		{"@127.0.0.1:6001", false, false, "not an endpoint", zmtp.ErrEndpoint},
		{"@", false, false, "not an endpoint", zmtp.ErrEndpoint},
		{">", false, false, "not an endpoint", zmtp.ErrEndpoint},
	}
	for _, tt := range tests {
		for _, c := range []struct {
			name  string
			f     func(string) error
			valid bool
		}{{"ValidateSink", ValidateSink, tt.sink}, {"ValidateSource", ValidateSource, tt.src}} {
			err := c.f(tt.endpoint)
			if c.valid {
				if err != nil {
					t.Errorf("%s(%q): %v, want nil", c.name, tt.endpoint, err)
				}
				continue
			}
			switch {
			case err == nil:
				t.Errorf("%s(%q) = nil, want an error saying %q", c.name, tt.endpoint, tt.why)
			case !errors.Is(err, ErrEndpoint) || !errors.Is(err, tt.transportE):
				t.Errorf("%s(%q): %v, want it to wrap ErrEndpoint and %v", c.name, tt.endpoint, err, tt.transportE)
			case !strings.Contains(err.Error(), tt.why) || !strings.Contains(err.Error(), `"`+tt.endpoint+`"`) ||
				strings.Contains(err.Error(), "\n") || strings.Count(err.Error(), "bad endpoint") != 1:
				t.Errorf("%s(%q): %q, want one line naming the endpoint once and saying %q", c.name, tt.endpoint, err, tt.why)
			}
		}
	}
}

// Sink(">...") connects to a Source("@...") that binds, over tcp and ipc:
// the source's Endpoint is the bound address, without the prefix, and the
// sink names the same; the sink counts the source once it has subscribed,
// and what it sends arrives.
func TestASinkThatConnectsToASourceThatBinds(t *testing.T) {
	for _, bindAt := range []string{"@tcp://127.0.0.1:0", "@ipc://" + filepath.Join(t.TempDir(), "feed.sock")} {
		t.Run(bindAt[1:4], func(t *testing.T) {
			src, err := Source(bindAt, WithReconnect(10*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			ep := src.Endpoint()
			if strings.HasPrefix(ep, "@") || strings.HasSuffix(ep, ":0") || !strings.HasPrefix(ep, bindAt[1:7]) {
				t.Fatalf("Source(%q).Endpoint() = %q, want the bound endpoint without the prefix", bindAt, ep)
			}
			if err := src.Subscribe([]byte("T")); err != nil {
				t.Fatal(err)
			}
			sink, err := Sink(">"+ep, WithReconnect(10*time.Millisecond), WithLinger(10*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			if got := sink.Stats().Endpoint; got != ep {
				t.Fatalf("the sink names its endpoint %q, want %q", got, ep)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := sink.(port.SubscriberWaiter).WaitSubscribers(ctx, 1); err != nil {
				t.Fatal(err)
			}
			sink.Send(port.Message{Topic: []byte("T"), Body: []byte("hello")})
			sink.Flush()
			for {
				b, err := src.Next(time.Now().Add(10 * time.Second))
				if err != nil {
					t.Fatal(err)
				}
				if len(b.Msgs) == 0 && len(b.Events) == 0 {
					t.Fatal("nothing arrived in 10s")
				}
				if len(b.Msgs) > 0 {
					if m := b.Msgs[0]; string(m.Topic) != "T" || string(m.Body) != "hello" {
						t.Fatalf("got %q=%q", m.Topic, m.Body)
					}
					return
				}
			}
		})
	}
}

// A sink that connects, to an endpoint where nobody listens yet, is no
// error: it connects in the background, as a source does. A recovery
// client connects: "@" is refused for it, ">" is the default said aloud.
func TestConnectingIsNoErrorAndARequesterCannotBind(t *testing.T) {
	sink, err := Sink(">tcp://127.0.0.1:1", WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("Sink to nobody: %v", err)
	}
	if st := sink.Stats(); st.Endpoint != "tcp://127.0.0.1:1" || st.Peers != 0 {
		t.Fatalf("stats %+v", st)
	}
	sink.Close()
	if _, err := Requester("@tcp://127.0.0.1:7000"); !errors.Is(err, ErrEndpoint) || !strings.Contains(err.Error(), "cannot bind") {
		t.Fatalf(`Requester("@..."): %v, want a bad endpoint that cannot bind`, err)
	}
	q, err := Requester(">tcp://127.0.0.1:7000")
	if err != nil {
		t.Fatal(err)
	}
	if q.Endpoint() != "tcp://127.0.0.1:7000" {
		t.Fatalf("Requester endpoint %q", q.Endpoint())
	}
	q.Close()
}
