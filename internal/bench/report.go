package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Ratio compares tickcast with another implementation on the same run
// parameters.
type Ratio struct {
	Group  string `json:"group"` // the runs compared, without the implementation
	Versus Impl   `json:"versus"`
	// Throughput is tickcast's delivered ticks/s ÷ the other's (throughput
	// runs): above 1, tickcast delivers more.
	Throughput float64 `json:"throughput,omitempty"`
	// Latency is tickcast's latency ÷ the other's at each of
	// PercentileNames (paced runs): below 1, tickcast is faster.
	Latency []float64 `json:"latency,omitempty"`
	// Valid is false when either run FAILed: the ratio is then shown
	// marked, never as a plain figure.
	Valid     bool   `json:"valid"`
	Tickcast  string `json:"tickcast_run"`
	Other     string `json:"other_run"`
	Scenario  string `json:"scenario"`
	Transport string `json:"transport"`
}

// groupKey identifies runs that differ only in their implementation.
func groupKey(s *RunSpec) string {
	k := fmt.Sprintf("%s %s", s.Scenario, s.Transport)
	if s.Paced() {
		k += " " + FormatRate(s.Rate) + "/s"
	} else {
		k += fmt.Sprintf(" batch %d", s.Batch)
	}
	if s.Subscribers > 1 {
		k += fmt.Sprintf(" ×%d subs", s.Subscribers)
	}
	if s.Drop > 0 {
		k += fmt.Sprintf(" drop %g%%", s.Drop*100)
	}
	return k
}

// ratios compares every tickcast run (flush delay 0) with the libzmq and
// zmq4 runs of the same group. zmq4 runs throughput once, one tick per
// message: every tickcast batch size is compared with that one run.
func ratios(results []*Result) []Ratio {
	var out []Ratio
	for _, t := range results {
		if t.Impl != ImplTickcast || t.Status == StatusSkip || t.FlushDelay != 0 {
			continue
		}
		for _, o := range results {
			if o.Impl == ImplTickcast || o.Status == StatusSkip || o.Scenario != t.Scenario || o.Transport != t.Transport {
				continue
			}
			same := groupKey(&o.RunSpec) == groupKey(&t.RunSpec)
			naive := t.Scenario == ScenarioThroughput && o.Impl == ImplZmq4
			if !same && !naive {
				continue
			}
			r := Ratio{Group: groupKey(&t.RunSpec), Versus: o.Impl, Valid: t.Status == StatusOK && o.Status == StatusOK,
				Tickcast: t.ID, Other: o.ID, Scenario: string(t.Scenario), Transport: t.Transport}
			if t.Paced() {
				tv, ov := t.All.Latency.Values(), o.All.Latency.Values()
				for i := range tv {
					r.Latency = append(r.Latency, safeDiv(float64(tv[i]), float64(ov[i])))
				}
			} else {
				r.Throughput = safeDiv(t.All.TicksPerSec, o.All.TicksPerSec)
			}
			out = append(out, r)
		}
	}
	return out
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// WriteText writes the report as tables for a terminal: one per scenario,
// FAIL runs marked in their row and their reasons listed after.
func (rep *Report) WriteText(w io.Writer) {
	m := rep.Meta
	dirty := ""
	if m.Dirty {
		dirty = " (uncommitted changes)"
	}
	fmt.Fprintf(w, "tickcast bench: commit %.12s%s, %s, %s × %d CPUs, kernel %s, GOGC=%s GOMEMLIMIT=%s",
		m.Commit, dirty, m.GoVersion, m.CPUModel, m.CPUs, m.Kernel, orDefault(m.GOGC, "100"), orDefault(m.GOMEMLIMIT, "off"))
	if m.Libzmq != "" {
		fmt.Fprintf(w, ", libzmq %s", m.Libzmq)
	}
	c := rep.Config
	fmt.Fprintf(w, "\nwarm-up %v (excluded), measured %v, pace %s, pinning pub %s sub %s\n",
		time.Duration(c.WarmupNs), time.Duration(c.DurationNs), c.Pace, cpusOr(c.PubCPUs), cpusOr(c.SubCPUs))

	var paced, thr []*Result
	for _, r := range rep.Results {
		if r.Paced() {
			paced = append(paced, r)
		} else {
			thr = append(thr, r)
		}
	}
	if len(paced) > 0 {
		fmt.Fprintln(w, "\nLatency: receive time − intended send time (coordinated-omission free); pacer: the publisher's own lateness")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "run\tstatus\tsent\tlost\trate\t%s\tpacer p99\tpacer max\t\n", strings.Join(PercentileNames, "\t"))
		for _, r := range paced {
			row := []string{r.Label(), string(r.Status)}
			if r.Status == StatusSkip {
				fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\t\t\t\t\t\t\t\n", row[0], row[1])
				continue
			}
			row = append(row, Count(r.Pub.Sent), Count(r.All.Lost), FormatRate(round3(r.Pub.Rate)))
			for _, v := range r.All.Latency.Values() {
				row = append(row, FormatNs(v))
			}
			row = append(row, FormatNs(r.Pub.Lateness.P99), FormatNs(r.Pub.Lateness.Max))
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
			if len(r.Subs) > 1 {
				for _, s := range r.Subs {
					sr := []string{"  " + s.Name, "", "", Count(s.Lost), FormatRate(round3(s.Rate))}
					for _, v := range s.Latency.Values() {
						sr = append(sr, FormatNs(v))
					}
					fmt.Fprintln(tw, strings.Join(sr, "\t")+"\t\t\t")
				}
			}
		}
		tw.Flush()
	}
	if len(thr) > 0 {
		fmt.Fprintln(w, "\nThroughput: delivered at the subscriber, as fast as the publisher can send (flow-controlled where the transport allows)")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "run\tstatus\tticks/s\tMB/s\tmsgs/s\tticks/msg\tsent\tlost\t")
		for _, r := range thr {
			if r.Status == StatusSkip {
				fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\t\t\n", r.Label(), r.Status)
				continue
			}
			a := r.All
			msgs := safeDiv(float64(a.Messages), a.Seconds)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%s\t%.1f\t%s\t%s\t\n", r.Label(), r.Status,
				Count(int64(a.TicksPerSec)), a.BytesPerSec/1e6, Count(int64(msgs)),
				safeDiv(float64(a.Received), float64(a.Messages)), Count(r.Pub.Sent), Count(a.Lost))
		}
		tw.Flush()
	}
	if len(rep.Ratios) > 0 {
		fmt.Fprintln(w, "\nRatios tickcast ÷ other (latency: below 1 is faster; throughput: above 1 is more); * = a run FAILed")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "runs\tversus\tthroughput\t%s\t\n", strings.Join(PercentileNames, "\t"))
		for _, r := range rep.Ratios {
			mark := ""
			if !r.Valid {
				mark = "*"
			}
			row := []string{r.Group, string(r.Versus)}
			if r.Throughput > 0 {
				row = append(row, fmt.Sprintf("%.2f%s", r.Throughput, mark))
			} else {
				row = append(row, "")
			}
			for _, l := range r.Latency {
				row = append(row, fmt.Sprintf("%.2f%s", l, mark))
			}
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
		tw.Flush()
	}
	var fails, skips []string
	for _, r := range rep.Results {
		for _, why := range r.Reasons {
			line := fmt.Sprintf("  %s %s: %s", r.Status, r.Label(), why)
			if r.Status == StatusSkip {
				skips = append(skips, line)
			} else {
				fails = append(fails, line)
			}
		}
	}
	if len(fails) > 0 {
		fmt.Fprintln(w, "\nFAILED runs (their numbers above are not valid measurements):")
		fmt.Fprintln(w, strings.Join(fails, "\n"))
	}
	if len(skips) > 0 {
		fmt.Fprintln(w, "\nSkipped:")
		fmt.Fprintln(w, strings.Join(slices.Compact(skips), "\n"))
	}
	var notes []string
	for _, r := range rep.Results {
		for _, n := range r.Notes {
			notes = append(notes, fmt.Sprintf("  %s: %s", r.Label(), n))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		fmt.Fprintln(w, strings.Join(notes, "\n"))
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func cpusOr(c []int) string {
	if len(c) == 0 {
		return "none"
	}
	return cpuList(c)
}

// Count formats n with thousands separators.
func Count(n int64) string {
	neg := n < 0
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// WriteFiles writes the report's files into dir: results.json, an .hgrm
// percentile distribution per run (and per subscriber and for the pacer),
// and the plots (PNG and SVG). It records their names in the results.
func (rep *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: output directory: %w", err)
	}
	for _, r := range rep.Results {
		if r.Status == StatusSkip || r.latency == nil {
			continue
		}
		r.Files = map[string]string{}
		if err := writeHgrmFile(dir, r.ID+".hgrm", r.latency); err != nil {
			return err
		}
		r.Files["hgrm"] = r.ID + ".hgrm"
		if len(r.subLatency) > 1 {
			for i, h := range r.subLatency {
				name := fmt.Sprintf("%s-%s.hgrm", r.ID, r.Subs[i].Name)
				if err := writeHgrmFile(dir, name, h); err != nil {
					return err
				}
				r.Files["hgrm_"+r.Subs[i].Name] = name
			}
		}
		if r.Paced() && r.lateness != nil {
			name := r.ID + "-pacer.hgrm"
			if err := writeHgrmFile(dir, name, r.lateness); err != nil {
				return err
			}
			r.Files["hgrm_pacer"] = name
		}
	}
	for _, r := range rep.Results {
		if err := r.encodeHistograms(); err != nil {
			return err
		}
	}
	plots, err := rep.writePlots(dir)
	if err != nil {
		return err
	}
	for _, r := range rep.Results {
		if p, ok := plots[r.ID]; ok {
			if r.Files == nil {
				r.Files = map[string]string{}
			}
			for k, v := range p {
				r.Files[k] = v
			}
		}
	}
	f, err := os.Create(filepath.Join(dir, "results.json"))
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	enc := json.NewEncoder(f)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		f.Close()
		return fmt.Errorf("bench: results.json: %w", err)
	}
	return f.Close()
}

// LoadReport reads a report that WriteFiles wrote (results.json), with
// its histograms, so that its files can be written again: the tables and
// plots of a run redrawn without running it again.
func LoadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", path, err)
	}
	for _, r := range rep.Results {
		if err := r.decodeHistograms(); err != nil {
			return nil, err
		}
	}
	return &rep, nil
}

func writeHgrmFile(dir, name string, h *hdrhistogram.Histogram) error {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := writeHgrm(f, h); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// progress reports the runs as they go: one line per run, and a live
// status line while a run is measuring when the output is a terminal.
type progress struct {
	w     io.Writer
	tty   bool
	total int
	i     int
	stop  chan struct{}
	done  chan struct{}
}

func newProgress(w io.Writer, tty bool, total int) *progress {
	return &progress{w: w, tty: tty, total: total}
}

func (p *progress) begin(i int, _ *RunSpec) { p.i = i }

// running starts the live line of a run that is now measuring.
func (p *progress) running(spec *RunSpec) {
	if p.w == nil || !p.tty {
		return
	}
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	start := time.Now()
	total := spec.Warmup + spec.Duration
	go func() {
		defer close(p.done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				fmt.Fprint(p.w, "\r\x1b[K")
				return
			case <-t.C:
				el := time.Since(start)
				phase := "warm-up"
				if el > spec.Warmup {
					phase = "measuring"
				}
				if el > total {
					phase = "draining"
				}
				fmt.Fprintf(p.w, "\r\x1b[K[%d/%d] %s: %s %.1fs / %.1fs", p.i+1, p.total, spec.Label(), phase,
					el.Seconds(), total.Seconds())
			}
		}
	}()
}

// end stops the live line and prints the run's one-line outcome.
func (p *progress) end(r *Result) {
	if p.w == nil {
		return
	}
	if p.stop != nil {
		close(p.stop)
		<-p.done
		p.stop = nil
	}
	line := fmt.Sprintf("[%d/%d] %s: %s", p.i+1, p.total, r.Label(), r.Status)
	switch {
	case r.Status == StatusSkip:
		line += ": " + strings.Join(r.Reasons, "; ")
	case r.Paced():
		l := r.All.Latency
		line += fmt.Sprintf("  p50 %s p99 %s p99.9 %s max %s", FormatNs(l.P50), FormatNs(l.P99), FormatNs(l.P999), FormatNs(l.Max))
	default:
		line += fmt.Sprintf("  %s ticks/s %.1f MB/s", Count(int64(r.All.TicksPerSec)), r.All.BytesPerSec/1e6)
	}
	if r.Status == StatusFail {
		line += "  (" + strings.Join(r.Reasons, "; ") + ")"
	}
	fmt.Fprintln(p.w, line)
}
