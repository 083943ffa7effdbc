package subscriber

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/tickcast/tickcast/internal/ratelog"
)

// eventLog logs the events an operator should see in a feed handler's
// logs, with the line's endpoint and index and the session as attributes:
// a line down, stale or losing data, and gaps, at Warn (each kind at most
// once every logEvery, a line's going down or stale per line, with the
// count of those not logged); lines coming up and sessions starting and
// ending at Debug.
// Ticks are never looked at twice: Next calls it for other events only.
type eventLog struct {
	log      *slog.Logger
	lines    []string // endpoints, by line index
	gaps     ratelog.Limiter
	trouble  ratelog.Limiter
	lineLogs []ratelog.Limiter // per line: down and stale
	// Gaps and missing ticks since the last gap logged.
	gapsSince, missingSince uint64
}

const logEvery = 10 * time.Second

func newEventLog(l *slog.Logger, lines []string) *eventLog {
	e := &eventLog{log: l, lines: lines, gaps: ratelog.Limiter{Every: logEvery}, trouble: ratelog.Limiter{Every: logEvery},
		lineLogs: make([]ratelog.Limiter, len(lines))}
	for i := range e.lineLogs {
		e.lineLogs[i].Every = logEvery
	}
	return e
}

func (e *eventLog) line(endpoint string) int {
	for i, ep := range e.lines {
		if ep == endpoint {
			return i
		}
	}
	return -1
}

func sessionID(id uint64) string { return fmt.Sprintf("%016x", id) }

func (e *eventLog) event(ev *Event) {
	switch ev.Kind {
	case EventTicks, EventRecovered, EventSnapshot:
	case EventGap:
		e.gapsSince++
		e.missingSince += ev.Gap.Missing
		if ok, _ := e.gaps.Allow(time.Now()); ok {
			// This gap, and how many there were since the last one logged
			// (this one included).
			e.log.Warn("subscriber: ticks lost", "topic", string(ev.Topic), "expected", ev.Gap.Expected,
				"received", ev.Gap.Received, "missing", ev.Gap.Missing, "detail", ev.Detail,
				"gaps_since_logged", e.gapsSince, "missing_since_logged", e.missingSince,
				"session", sessionID(ev.Session))
			e.gapsSince, e.missingSince = 0, 0
		}
	case EventLineDown, EventStale:
		// Per line, so that a flapping line (a publisher that keeps
		// cutting this slow subscriber off) does not hide another's.
		i := e.line(ev.Line)
		if i < 0 || i >= len(e.lineLogs) {
			return
		}
		if ok, suppressed := e.lineLogs[i].Allow(time.Now()); ok {
			e.log.Warn("subscriber: line "+ev.Kind.String(), "endpoint", ev.Line, "line", i,
				"detail", ev.Detail, "session", sessionID(ev.Session), "not_logged", suppressed)
		}
	case EventLineLoss, EventBackwards, EventTopicLimit:
		if ok, suppressed := e.trouble.Allow(time.Now()); ok {
			e.log.Warn("subscriber: "+ev.Kind.String(), "endpoint", ev.Line, "line", e.line(ev.Line),
				"detail", ev.Detail, "session", sessionID(ev.Session), "not_logged", suppressed)
		}
	case EventSessionStart:
		e.log.Debug("subscriber: session", "endpoint", ev.Line, "line", e.line(ev.Line),
			"session", sessionID(ev.Session), "previous", sessionID(ev.PrevSession))
	default:
		e.log.Debug("subscriber: "+ev.Kind.String(), "endpoint", ev.Line, "line", e.line(ev.Line),
			"detail", ev.Detail, "session", sessionID(ev.Session))
	}
}
