package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/tickcast/tickcast/subscriber"
)

// eventLog reads a subscriber's events in order and keeps the kinds seen, so
// that a test can wait for the next event of a kind and still check what
// came before it.
type eventLog struct {
	t     *testing.T
	sub   *subscriber.Subscriber
	kinds []subscriber.EventKind
}

// next returns the next event of kind want. The test fails if the
// subscriber ends first, or closes it after 20 s without one.
func (l *eventLog) next(want subscriber.EventKind) subscriber.Event {
	l.t.Helper()
	timer := time.AfterFunc(20*time.Second, func() { l.sub.Close() })
	defer timer.Stop()
	for {
		ev, err := l.sub.Next(context.Background())
		if err != nil {
			l.t.Fatalf("waiting for %s: %v (events so far %v)", want, err, l.kinds)
		}
		l.kinds = append(l.kinds, ev.Kind)
		if ev.Kind == want {
			return ev
		}
	}
}
