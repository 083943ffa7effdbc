package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/metrics"
	"github.com/tickcast/tickcast/recovery"
	"github.com/tickcast/tickcast/relay"
)

// retention is the --retention flag: how long and how many bytes of history
// a recovery service keeps, whichever is reached first evicting the oldest.
type retention struct {
	age   time.Duration
	bytes int64
}

// Bounds of --retention.
const (
	maxRetentionAge   = 24 * time.Hour
	maxRetentionBytes = 1 << 40 // 1 TiB: far beyond this machine, short of overflow
)

func (r *retention) String() string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf("%v,%s", r.age, sizeString(r.bytes))
}

// Set parses DURATION, SIZE, or both separated by a comma: 30s, 512MiB,
// 30s,512MiB. Sizes take B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB
// (powers of 1024).
func (r *retention) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if d, err := time.ParseDuration(part); err == nil {
			if d <= 0 || d > maxRetentionAge {
				return fmt.Errorf("%q: a duration from 1ns to 24h", part)
			}
			r.age = d
			continue
		}
		n, err := parseSize(part)
		if err != nil {
			return fmt.Errorf("%q: want a duration (30s), a size (512MiB), or both (30s,512MiB)", part)
		}
		if n <= 0 || n > maxRetentionBytes {
			return fmt.Errorf("%q: a size from 1B to 1TiB", part)
		}
		r.bytes = n
	}
	return nil
}

// parseSize parses a byte count with an optional unit.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v*float64(mult) > math.MaxInt64/2 {
		return 0, fmt.Errorf("not a size")
	}
	return int64(v * float64(mult)), nil
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dB", n)
}

// recoveryFlags are the flags of a recovery service, in pub and recovery.
type recoveryFlags struct {
	listen    string
	retention retention
	linger    time.Duration // pub only: how long the service outlives the session
}

func (f *recoveryFlags) register(fs *flag.FlagSet, listenFlag, listenUsage string) {
	fs.StringVar(&f.listen, listenFlag, "", listenUsage)
	f.retention = retention{age: recovery.DefaultRetention, bytes: recovery.DefaultRetentionBytes}
	fs.Var(&f.retention, "retention", "history a recovery service keeps: `DURATION,SIZE` (30s,512MiB), or either alone, the other keeping its default; whichever is reached first evicts the oldest")
	if listenFlag == "recovery" {
		fs.DurationVar(&f.linger, "recovery-linger", time.Second, "with --recovery: keep answering this long after the end of the session (subscribers may still ask for the last ticks), up to 1m")
	}
}

// check checks the listening endpoint: tcp:// or ipc://, bound.
func (f *recoveryFlags) check(flag string) error {
	if err := checkDuration("recovery-linger", f.linger, 0, time.Minute, "want 0 to 1m"); err != nil {
		return err
	}
	if f.listen == "" {
		return nil
	}
	if !requestReply(f.listen) {
		return fmt.Errorf("%w: --%s %q: a recovery service answers on tcp:// or ipc://", errUsage, flag, f.listen)
	}
	if mode, _ := endpoint.SplitMode(f.listen); mode == endpoint.Connect {
		return fmt.Errorf("%w: --%s %q: a recovery service binds; its clients connect", errUsage, flag, f.listen)
	}
	return checkEndpoints(flag, true, f.listen)
}

// open starts the service.
func (f *recoveryFlags) open(e *env) (*recovery.Server, error) {
	_, listen := endpoint.SplitMode(f.listen) // "@" or nothing: it binds
	return recovery.NewServer(listen, recovery.WithRetention(f.retention.age, f.retention.bytes),
		recovery.WithLogger(e.logger))
}

// printServed prints what a service held and served.
func printServed(w io.Writer, s *recovery.Server) {
	st := s.ServerStats()
	h := st.History
	fmt.Fprintf(w, "recovery %s: holds %s messages (%s bytes, %s topics) of session %016x; evicted %s; answered %s requests: %s replays (%s messages), %s snapshots, %s not available, %s bad\n",
		s.Endpoint(), count(uint64(h.Messages)), count(uint64(h.Bytes)), count(uint64(h.Topics)), h.Session,
		count(h.Evicted), count(st.Requests), count(st.Replays), count(st.MessagesServed), count(st.Snapshots),
		count(st.NotAvailable), count(st.BadRequests))
}

func runRecovery(ctx context.Context, e *env, args []string) (int, error) {
	var from listFlag
	var rf recoveryFlags
	var feed feedFlags
	fs := newFlags(e, "recovery", "recovery --from ENDPOINT [--from ENDPOINT ...] --listen ENDPOINT [--retention DURATION,SIZE]")
	fs.Var(&from, "from", "`endpoint` of the feed to keep (connects or joins), repeatable: the lines of one feed (A/B)")
	rf.register(fs.FlagSet, "listen", "`endpoint` to answer requests on (binds): tcp://host:port or ipc://path")
	feed.register(fs, true)
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	if err := parse(fs, args); err != nil {
		return 0, err
	}
	if len(from) == 0 || rf.listen == "" {
		return 0, fmt.Errorf("%w: at least one --from and a --listen are needed", errUsage)
	}
	for _, err := range []error{
		checkEndpoints("from", false, from...),
		rf.check("listen"),
		feed.check(),
		checkDuration("duration", *duration, 0, math.MaxInt64, "must not be negative"),
	} {
		if err != nil {
			return 0, err
		}
	}
	srv, err := rf.open(e)
	if err != nil {
		return 0, err
	}
	defer srv.Close()
	// A relay per line records into the service: lines of one feed bring
	// the same messages, kept once.
	var relays []*relay.Relay
	for _, ep := range from {
		src, err := endpoint.Source(ep, append([]endpoint.Option{endpoint.WithLogger(e.logger)}, feed.pgm.options()...)...)
		if err != nil {
			return 0, err
		}
		relays = append(relays, relay.New(src, nil, srv))
	}
	e.notice("keeping %v (%v, %s) and answering on %s", []string(from), rf.retention.age,
		sizeString(rf.retention.bytes), srv.Endpoint())
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errs := make([]error, len(relays))
	for i, r := range relays {
		wg.Go(func() {
			errs[i] = r.Run(runCtx)
			stop() // a line that failed ends the service: its operator should know
		})
	}
	cs := []prometheus.Collector{metrics.NewRecovery(srv)}
	for i, r := range relays {
		cs = append(cs, metrics.NewRelay(r, metrics.WithLabels(prometheus.Labels{"from": from[i]})))
	}
	stopMetrics, err := e.serveMetrics(feed.metrics, cs...)
	if err != nil {
		stop()
		wg.Wait()
		return 0, err
	}
	defer stopMetrics()
	stopStatus := e.statusLine(feed.status, func() string {
		st := srv.ServerStats()
		return fmt.Sprintf("holding %s messages, answered %s requests", count(uint64(st.History.Messages)), count(st.Requests))
	})
	wg.Wait()
	stopStatus()
	printServed(e.stdout, srv)
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return exitOK, nil
}
