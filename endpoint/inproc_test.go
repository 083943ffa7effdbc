package endpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tickcast/tickcast/inproc"
	"github.com/tickcast/tickcast/port"
)

// inproc:// needs a name, of at most inproc.MaxName bytes; it binds or
// connects with the prefixes as tcp:// does. Errors are as TestValidate's.
func TestValidateInproc(t *testing.T) {
	long := "inproc://" + strings.Repeat("n", inproc.MaxName+1)
	for _, tt := range []struct {
		endpoint string
		valid    bool
		why      string
	}{
		{"inproc://feed", true, ""},
		{"@inproc://feed", true, ""},
		{">inproc://feed", true, ""},
		{"inproc://a/b:c;d", true, ""},
		{"inproc://", false, "no name"},
		{"@inproc://", false, "no name"},
		{long, false, "at most 256"},
	} {
		for name, f := range map[string]func(string) error{"ValidateSink": ValidateSink, "ValidateSource": ValidateSource} {
			err := f(tt.endpoint)
			switch {
			case tt.valid && err != nil:
				t.Errorf("%s(%q): %v, want nil", name, tt.endpoint, err)
			case tt.valid:
			case err == nil:
				t.Errorf("%s(%q) = nil, want an error saying %q", name, tt.endpoint, tt.why)
			case !errors.Is(err, ErrEndpoint) || !errors.Is(err, inproc.ErrEndpoint):
				t.Errorf("%s(%q): %v, want it to wrap ErrEndpoint and inproc.ErrEndpoint", name, tt.endpoint, err)
			case !strings.Contains(err.Error(), tt.why) || !strings.Contains(err.Error(), tt.endpoint) ||
				strings.Count(err.Error(), "bad endpoint") != 1:
				t.Errorf("%s(%q): %q, want one line naming the endpoint once and saying %q", name, tt.endpoint, err, tt.why)
			}
		}
	}
	if err := ValidateSink("nope"); err == nil || !strings.Contains(err.Error(), "inproc://name") {
		t.Errorf("the list of transports does not name inproc: %v", err)
	}
}

// recv returns the first message the source brings within 10 s.
func recv(t *testing.T, src port.Source) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := src.Next(deadline)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Msgs) > 0 {
			return string(b.Msgs[0].Topic) + "=" + string(b.Msgs[0].Body)
		}
		if len(b.Events) == 0 {
			t.Fatal("nothing in 10s")
		}
	}
}

// Sink and Source open inproc:// in the namespace WithInprocNamespace gives:
// by default the sink binds and the source connects; with the prefixes, the
// other way round. Binding a bound name is an address in use, not a bad
// endpoint.
func TestInprocSinkAndSource(t *testing.T) {
	for _, c := range []struct{ sink, source string }{
		{"inproc://feed", "inproc://feed"},
		{">inproc://feed", "@inproc://feed"},
	} {
		t.Run(c.sink+" "+c.source, func(t *testing.T) {
			ns := inproc.NewNamespace()
			src, err := Source(c.source, WithInprocNamespace(ns), WithSendHWM(5))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			src.Subscribe([]byte("T"))
			sink, err := Sink(c.sink, WithInprocNamespace(ns), WithSendHWM(5))
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			if st := sink.Stats(); st.Endpoint != "inproc://feed" || src.Endpoint() != "inproc://feed" {
				t.Fatalf("endpoints %q and %q, want inproc://feed", st.Endpoint, src.Endpoint())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := sink.(port.SubscriberWaiter).WaitSubscribers(ctx, 1); err != nil {
				t.Fatal(err)
			}
			for i := range 10 {
				sink.Send(port.Message{Topic: []byte("T"), Body: fmt.Appendf(nil, "%d", i)})
			}
			sink.Flush()
			if got := recv(t, src); got != "T=0" {
				t.Fatalf("got %s", got)
			}
			if st := sink.Stats(); st.Dropped != 5 {
				t.Fatalf("%d dropped with WithSendHWM(5), want 5", st.Dropped)
			}
			if !ns.Bound("feed") {
				t.Fatal("nothing bound the name")
			}
			_, err = Sink("inproc://feed", WithInprocNamespace(ns))
			if !errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, ErrEndpoint) {
				t.Fatalf("a second bind: %v, want an address in use", err)
			}
		})
	}
}

// Without WithInprocNamespace, inproc:// names are the process's: what the
// endpoint package opens meets what package inproc opens by default.
func TestInprocDefaultNamespace(t *testing.T) {
	name := fmt.Sprintf("inproc://endpoint-test-%p", t)
	sink, err := Sink(name)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	src, err := inproc.Dial(name)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	src.Subscribe(nil)
	sink.Send(port.Message{Topic: []byte("T"), Body: []byte("x")})
	sink.Flush()
	if got := recv(t, src); got != "T=x" {
		t.Fatalf("got %s", got)
	}
	if _, err := Requester(name); !errors.Is(err, ErrEndpoint) {
		t.Fatalf("a recovery client over inproc: %v, want a bad endpoint", err)
	}
}
