package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// runStat is `tickcast stat`: a live view of a running process's metrics
// (its --metrics address), redrawn in place on a terminal, like AeronStat.
func runStat(ctx context.Context, e *env, args []string) (int, error) {
	fs := newFlags(e, "stat", "stat --metrics HOST:PORT [--interval 1s] [--count N]")
	addr := fs.String("metrics", "", "the `HOST:PORT` a tickcast process serves its metrics on (its --metrics), or a URL")
	interval := fs.Duration("interval", time.Second, "time between refreshes")
	n := fs.Int("count", 0, "stop after this many refreshes (0: until interrupted)")
	if err := parse(fs, args); err != nil {
		return 0, err
	}
	if *addr == "" {
		return 0, fmt.Errorf("%w: --metrics is needed", errUsage)
	}
	if *interval < 10*time.Millisecond {
		return 0, fmt.Errorf("%w: --interval %v: at least 10ms", errUsage, *interval)
	}
	if *n < 0 {
		return 0, fmt.Errorf("%w: --count %d: must not be negative", errUsage, *n)
	}
	url := *addr
	if !strings.Contains(url, "://") {
		url = "http://" + url + "/metrics"
	}
	client := &http.Client{Timeout: max(*interval, 2*time.Second)}
	tty := isTerminalWriter(e.stdout)
	var prev *snapshot
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for i := 0; *n == 0 || i < *n; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return exitOK, nil
			case <-tick.C:
			}
		}
		cur, err := scrapeMetrics(ctx, client, url)
		var out bytes.Buffer
		if err != nil {
			if ctx.Err() != nil {
				return exitOK, nil
			}
			fmt.Fprintf(&out, "tickcast stat %s  %s\n  %v\n", url, time.Now().Format("15:04:05"), err)
		} else {
			renderStat(&out, url, prev, cur)
			prev = cur
		}
		if tty {
			io.WriteString(e.stdout, "\x1b[H\x1b[2J") // home, clear
		} else if i > 0 {
			io.WriteString(e.stdout, "\n")
		}
		e.stdout.Write(out.Bytes())
	}
	return exitOK, nil
}

// snapshot is one scrape.
type snapshot struct {
	at   time.Time
	fams map[string]*dto.MetricFamily
}

func scrapeMetrics(ctx context.Context, c *http.Client, url string) (*snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return &snapshot{at: time.Now(), fams: fams}, nil
}

// sample is one series of a family: its labels and value.
type sample struct {
	labels map[string]string
	value  float64
	hist   *dto.Histogram
}

func (s *snapshot) series(name string) []sample {
	if s == nil {
		return nil
	}
	f, ok := s.fams[name]
	if !ok {
		return nil
	}
	var out []sample
	for _, m := range f.Metric {
		sm := sample{labels: map[string]string{}}
		for _, l := range m.Label {
			sm.labels[l.GetName()] = l.GetValue()
		}
		switch {
		case m.Counter != nil:
			sm.value = m.Counter.GetValue()
		case m.Gauge != nil:
			sm.value = m.Gauge.GetValue()
		case m.Untyped != nil:
			sm.value = m.Untyped.GetValue()
		case m.Histogram != nil:
			sm.hist = m.Histogram
			sm.value = float64(m.Histogram.GetSampleCount())
		}
		out = append(out, sm)
	}
	return out
}

// get returns the sum of name's series that have the given labels.
func (s *snapshot) get(name string, labels ...string) (float64, bool) {
	var sum float64
	found := false
next:
	for _, sm := range s.series(name) {
		for i := 0; i+1 < len(labels); i += 2 {
			if sm.labels[labels[i]] != labels[i+1] {
				continue next
			}
		}
		sum += sm.value
		found = true
	}
	return sum, found
}

func (s *snapshot) has(name string) bool {
	_, ok := s.get(name)
	return ok
}

// view renders one scrape against the one before it.
type view struct {
	w         io.Writer
	cur, prev *snapshot
	dt        float64 // seconds between them; 0: no rates yet
}

func (v *view) value(name string, labels ...string) float64 {
	x, _ := v.cur.get(name, labels...)
	return x
}

// rate is a counter's increase per second since the previous scrape.
func (v *view) rate(name string, labels ...string) (float64, bool) {
	if v.dt <= 0 {
		return 0, false
	}
	now, ok := v.cur.get(name, labels...)
	before, okBefore := v.prev.get(name, labels...)
	if !ok || !okBefore || now < before {
		return 0, false
	}
	return (now - before) / v.dt, true
}

// n renders a counter with its rate: "1,234 (56/s)".
func (v *view) n(name string, labels ...string) string {
	s := count(uint64(v.value(name, labels...)))
	if r, ok := v.rate(name, labels...); ok && r > 0 {
		s += " (+" + perSecond(r) + ")"
	}
	return s
}

// r renders a counter's rate only: "56/s", "-" before there is one.
func (v *view) r(name string, labels ...string) string {
	r, ok := v.rate(name, labels...)
	if !ok {
		return "-"
	}
	return perSecond(r)
}

// mb renders a byte counter's rate in MB/s.
func (v *view) mb(name string, labels ...string) string {
	r, ok := v.rate(name, labels...)
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.2f", r/1e6)
}

// percent renders a gauge as a share of another: "12%", "-" without them.
func (v *view) percent(used, capacity string, labels ...string) string {
	u, ok1 := v.cur.get(used, labels...)
	c, ok2 := v.cur.get(capacity, labels...)
	if !ok1 || !ok2 || c <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*u/c)
}

func perSecond(r float64) string {
	if r < 10 {
		return fmt.Sprintf("%.1f/s", r)
	}
	return count(uint64(math.Round(r))) + "/s"
}

// renderStat writes the view of cur (rates against prev, if any).
func renderStat(w io.Writer, url string, prev, cur *snapshot) {
	v := &view{w: w, cur: cur, prev: prev}
	if prev != nil {
		v.dt = cur.at.Sub(prev.at).Seconds()
	}
	fmt.Fprintf(w, "tickcast stat %s  %s\n", url, cur.at.Format("15:04:05"))
	found := false
	if cur.has("tickcast_publisher_ticks_total") {
		found = true
		v.publisher()
	}
	if cur.has("tickcast_relay_forwarded_messages_total") {
		found = true
		v.relay()
	}
	if cur.has("tickcast_sink_messages_total") {
		v.sinks()
	}
	if cur.has("tickcast_subscriber_ticks_total") {
		found = true
		v.subscriber()
	}
	if cur.has("tickcast_recovery_requests_total") {
		found = true
		v.recovery()
	}
	if !found {
		fmt.Fprintln(w, "  no tickcast metrics here")
	}
}

func (v *view) publisher() {
	session := ""
	for _, s := range v.cur.series("tickcast_publisher_session_info") {
		session = "  session " + s.labels["session"]
	}
	fmt.Fprintf(v.w, "\npublisher%s\n", session)
	fmt.Fprintf(v.w, "  ticks %s  %s   rejected %s   messages %s   %s MB/s   heartbeats %s\n",
		count(uint64(v.value("tickcast_publisher_ticks_total"))), v.r("tickcast_publisher_ticks_total"),
		v.n("tickcast_publisher_rejected_ticks_total"), v.n("tickcast_publisher_messages_total"),
		v.mb("tickcast_publisher_bytes_total"), count(uint64(v.value("tickcast_publisher_heartbeats_total"))))
}

func (v *view) relay() {
	fmt.Fprintf(v.w, "\nrelay\n  forwarded %s  %s   dropped on purpose: %s batches, %s ticks\n",
		count(uint64(v.value("tickcast_relay_forwarded_messages_total"))), v.r("tickcast_relay_forwarded_messages_total"),
		v.n("tickcast_relay_dropped_batches_total"), v.n("tickcast_relay_dropped_ticks_total"))
}

func (v *view) sinks() {
	eps := v.labelValues("tickcast_sink_messages_total", "endpoint")
	t := &table{}
	head := []string{"sink", "peers", "msgs/s", "MB/s", "dropped", "dropped/s", "errors"}
	pgmSinks := false
	for _, ep := range eps {
		if _, ok := v.cur.get("tickcast_pgm_odata_sent_total", "endpoint", ep); ok {
			pgmSinks = true
		}
	}
	if pgmSinks {
		head = append(head, "odata/s", "rdata/s", "naks rcvd/s")
	}
	t.row(head...)
	for _, ep := range eps {
		peers := "-"
		if p, ok := v.cur.get("tickcast_sink_peers", "endpoint", ep); ok {
			peers = fmt.Sprint(int(p))
			if sub, ok := v.cur.get("tickcast_sink_subscribed_peers", "endpoint", ep); ok {
				peers = fmt.Sprintf("%d/%d", int(sub), int(p)) // subscribed/connected
			}
		}
		var pgm []string
		if pgmSinks {
			pgm = []string{"", "", ""}
			if _, ok := v.cur.get("tickcast_pgm_odata_sent_total", "endpoint", ep); ok {
				pgm = []string{v.r("tickcast_pgm_odata_sent_total", "endpoint", ep),
					v.r("tickcast_pgm_rdata_sent_total", "endpoint", ep), v.r("tickcast_pgm_naks_received_total", "endpoint", ep)}
			}
		}
		t.row(append([]string{ep, peers, v.r("tickcast_sink_messages_total", "endpoint", ep), v.mb("tickcast_sink_bytes_total", "endpoint", ep),
			count(uint64(v.value("tickcast_sink_dropped_messages_total", "endpoint", ep))), v.r("tickcast_sink_dropped_messages_total", "endpoint", ep),
			count(uint64(v.value("tickcast_sink_errors_total", "endpoint", ep)))}, pgm...)...)
	}
	fmt.Fprintln(v.w)
	t.write(v.w)
	// Subscribers that sinks dropped messages for: the slow ones.
	var slow []string
	for _, s := range v.cur.series("tickcast_sink_subscriber_dropped_messages_total") {
		ep, peer := s.labels["endpoint"], s.labels["peer"]
		q, _ := v.cur.get("tickcast_sink_subscriber_queued_messages", "endpoint", ep, "peer", peer)
		if s.value == 0 {
			continue
		}
		slow = append(slow, fmt.Sprintf("  slow subscriber %s on %s: %s queued, dropped %s",
			peer, ep, count(uint64(q)), v.n("tickcast_sink_subscriber_dropped_messages_total", "endpoint", ep, "peer", peer)))
	}
	sort.Strings(slow)
	for _, s := range slow {
		fmt.Fprintln(v.w, s)
	}
}

func (v *view) subscriber() {
	fmt.Fprintf(v.w, "\nsubscriber\n  ticks %s  %s   gaps %s   missing %s\n",
		count(uint64(v.value("tickcast_subscriber_ticks_total"))), v.r("tickcast_subscriber_ticks_total"),
		v.n("tickcast_subscriber_gaps_total"), v.n("tickcast_subscriber_missing_ticks_total"))
	if rec := v.value("tickcast_subscriber_recoveries_total") + v.value("tickcast_subscriber_snapshots_total"); rec > 0 {
		fmt.Fprintf(v.w, "  recovered %s ticks in %s replies, unrecovered %s, snapshots %s\n",
			v.n("tickcast_subscriber_recovered_ticks_total"), count(uint64(v.value("tickcast_subscriber_recoveries_total"))),
			v.n("tickcast_subscriber_unrecovered_ticks_total"), count(uint64(v.value("tickcast_subscriber_snapshots_total"))))
	}
	if q := v.quantiles("tickcast_subscriber_latency_seconds"); q != "" {
		fmt.Fprintf(v.w, "  latency %s\n", q)
	}
	lines := v.labelValues("tickcast_line_messages_total", "line")
	t := &table{left: 3}
	pgm := v.cur.has("tickcast_pgm_odata_received_total")
	head := []string{"line", "endpoint", "state", "msgs/s", "MB/s", "ticks/s", "gaps", "missing", "dups/s"}
	if pgm {
		head = append(head, "naks/s", "repaired/s", "lost", "window")
	}
	t.row(head...)
	for _, l := range lines {
		ep := ""
		state := "?"
		for _, s := range v.cur.series("tickcast_line_state") {
			if s.labels["line"] == l {
				ep = s.labels["endpoint"]
				if s.value == 1 {
					state = s.labels["state"]
				}
			}
		}
		if n, ok := v.cur.get("tickcast_zmtp_publishers", "line", l); ok {
			state += fmt.Sprintf(" (%d pubs)", int(n)) // a line that binds: its publishers
		}
		row := []string{l, ep, state, v.r("tickcast_line_messages_total", "line", l), v.mb("tickcast_line_bytes_total", "line", l),
			v.r("tickcast_line_ticks_total", "line", l), v.n("tickcast_line_gaps_total", "line", l),
			v.n("tickcast_line_missing_ticks_total", "line", l), v.r("tickcast_line_duplicate_ticks_total", "line", l)}
		if pgm {
			if _, ok := v.cur.get("tickcast_pgm_naks_sent_total", "line", l); ok {
				row = append(row, v.r("tickcast_pgm_naks_sent_total", "line", l), v.r("tickcast_pgm_repaired_sqns_total", "line", l),
					v.n("tickcast_pgm_lost_sqns_total", "line", l), v.percent("tickcast_pgm_window_used_sqns", "tickcast_pgm_window_capacity_sqns", "line", l))
			} else {
				row = append(row, "", "", "", "")
			}
		}
		t.row(row...)
	}
	t.write(v.w)
}

func (v *view) recovery() {
	fmt.Fprintf(v.w, "\nrecovery service\n  requests %s   replays %s   snapshots %s   not available %s   bad %s\n",
		v.n("tickcast_recovery_requests_total"), v.n("tickcast_recovery_replays_total"), v.n("tickcast_recovery_snapshots_total"),
		v.n("tickcast_recovery_not_available_total"), v.n("tickcast_recovery_bad_requests_total"))
	fmt.Fprintf(v.w, "  history: %s messages, %.1f MB, %s topics; evicted %s\n",
		count(uint64(v.value("tickcast_recovery_history_messages"))), v.value("tickcast_recovery_history_bytes")/1e6,
		count(uint64(v.value("tickcast_recovery_history_topics"))), v.n("tickcast_recovery_history_evicted_total"))
}

// labelValues returns the values label takes in name's series, sorted
// (numerically where they are numbers of the same length).
func (v *view) labelValues(name, label string) []string {
	var out []string
	for _, s := range v.cur.series(name) {
		if l, ok := s.labels[label]; ok && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) < len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}

// quantiles estimates the median and the 99th percentile of a histogram
// over the last interval (or since the start, before there is one), the
// way PromQL's histogram_quantile does: linear within a bucket.
func (v *view) quantiles(name string) string {
	cur := v.cur.series(name)
	if len(cur) == 0 || cur[0].hist == nil {
		return ""
	}
	h := cur[0].hist
	bounds, counts := bucketCounts(h)
	total := float64(h.GetSampleCount())
	if prev := v.prev.series(name); len(prev) > 0 && prev[0].hist != nil {
		_, before := bucketCounts(prev[0].hist)
		if len(before) == len(counts) {
			for i := range counts {
				counts[i] -= before[i]
			}
			total -= float64(prev[0].hist.GetSampleCount())
		}
	}
	if total <= 0 {
		return ""
	}
	q := func(p float64) string {
		rank := p * total
		lower, below := 0.0, 0.0
		for i, c := range counts {
			if c >= rank {
				if math.IsInf(bounds[i], 1) {
					return fmt.Sprintf("> %s", seconds(lower))
				}
				frac := 0.0
				if c > below {
					frac = (rank - below) / (c - below)
				}
				return seconds(lower + (bounds[i]-lower)*frac)
			}
			lower, below = bounds[i], c
		}
		return "?"
	}
	return fmt.Sprintf("p50 %s  p99 %s  (%s messages)", q(0.5), q(0.99), count(uint64(total)))
}

// bucketCounts returns a histogram's upper bounds and cumulative counts,
// with the +Inf bucket last.
func bucketCounts(h *dto.Histogram) (bounds, counts []float64) {
	for _, b := range h.Bucket {
		bounds = append(bounds, b.GetUpperBound())
		counts = append(counts, float64(b.GetCumulativeCount()))
	}
	if len(bounds) == 0 || !math.IsInf(bounds[len(bounds)-1], 1) {
		bounds = append(bounds, math.Inf(1))
		counts = append(counts, float64(h.GetSampleCount()))
	}
	return bounds, counts
}

func seconds(s float64) string { return duration(int64(s * 1e9)) }

// table aligns columns: the first left (left of them) left, the others
// right.
type table struct {
	left int
	rows [][]string
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) {
	var width []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, r := range t.rows {
		var b strings.Builder
		b.WriteString("  ")
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i < max(t.left, 1) {
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
			if i < len(r)-1 {
				b.WriteString("  ")
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// isTerminalWriter reports whether w is a terminal.
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}
