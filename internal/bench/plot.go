package bench

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Colours per implementation, kept across every plot.
var implColor = map[Impl]color.Color{
	ImplTickcast: color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	ImplLibzmq:   color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	ImplZmq4:     color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

var (
	failColor = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	// Extra colours for several lines of one implementation (subscribers,
	// flush delays).
	palette = []color.Color{
		color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
		color.RGBA{R: 0xe3, G: 0x77, B: 0xc2, A: 0xff}, color.RGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff},
		color.RGBA{R: 0xbc, G: 0xbd, B: 0x22, A: 0xff},
	}
)

const (
	plotWidth  = 8 * vg.Inch
	plotHeight = 5 * vg.Inch
)

// writePlots draws a latency spectrum per group of paced runs and a
// throughput-versus-batch plot per transport, each as PNG and SVG. It
// returns, per run ID, the plot files that show it.
func (rep *Report) writePlots(dir string) (map[string]map[string]string, error) {
	files := map[string]map[string]string{}
	note := func(r *Result, kind, base string) {
		if files[r.ID] == nil {
			files[r.ID] = map[string]string{}
		}
		files[r.ID][kind+"_png"] = base + ".png"
		files[r.ID][kind+"_svg"] = base + ".svg"
	}
	// Latency: one plot per group (scenario, transport, rate, ...).
	var keys []string
	groups := map[string][]*Result{}
	for _, r := range rep.Results {
		if !r.Paced() || r.Status == StatusSkip || r.latency == nil || r.latency.TotalCount() == 0 {
			continue
		}
		k := groupKey(&r.RunSpec)
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	for _, k := range keys {
		rs := groups[k]
		base := plotName(rs[0])
		p, err := latencyPlot(rs, rep.caption())
		if err != nil {
			return nil, err
		}
		if err := save(p, dir, base); err != nil {
			return nil, err
		}
		for _, r := range rs {
			note(r, "plot", base)
		}
	}
	// Throughput: one plot per transport.
	byTransport := map[string][]*Result{}
	var transports []string
	for _, r := range rep.Results {
		if r.Paced() || r.Status == StatusSkip {
			continue
		}
		if byTransport[r.Transport] == nil {
			transports = append(transports, r.Transport)
		}
		byTransport[r.Transport] = append(byTransport[r.Transport], r)
	}
	for _, tr := range transports {
		rs := byTransport[tr]
		base := "throughput-" + tr
		p, err := throughputPlot(tr, rs, rep.caption())
		if err != nil {
			return nil, err
		}
		if err := save(p, dir, base); err != nil {
			return nil, err
		}
		for _, r := range rs {
			note(r, "plot", base)
		}
	}
	return files, nil
}

// plotName is the file name (without extension) of a group's plot.
func plotName(r *Result) string {
	n := fmt.Sprintf("%s-%s-%s", r.Scenario, r.Transport, FormatRate(r.Rate))
	if r.Subscribers > 1 {
		n += fmt.Sprintf("-s%d", r.Subscribers)
	}
	if r.Drop > 0 {
		n += fmt.Sprintf("-d%g", r.Drop)
	}
	return strings.NewReplacer(".", "_").Replace(n)
}

func save(p *plot.Plot, dir, base string) error {
	for _, ext := range []string{".png", ".svg"} {
		if err := p.Save(plotWidth, plotHeight, filepath.Join(dir, base+ext)); err != nil {
			return fmt.Errorf("bench: plot %s%s: %w", base, ext, err)
		}
	}
	return nil
}

func newPlot(title string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = 12
	// Top left: the corner both kinds of plot leave empty (latency
	// rises to the right, throughput with the batch size).
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(12)
	p.Legend.YOffs = -vg.Points(6)
	p.Legend.TextStyle.Font.Size = 10
	p.X.Label.TextStyle.Font.Size = 11
	p.Y.Label.TextStyle.Font.Size = 11
	p.Add(plotter.NewGrid())
	return p
}

// latencyPlot draws the percentile spectrum of each run of a group on the
// 1/(1−p) axis, log scale, labelled 90%, 99%, 99.9%...; the pacer's
// lateness dashed. A FAIL run is drawn dashed in its colour and named so
// in the legend.
func latencyPlot(rs []*Result, caption string) (*plot.Plot, error) {
	failed := false
	for _, r := range rs {
		failed = failed || r.Status == StatusFail
	}
	title := latencyTitle(&rs[0].RunSpec)
	if failed {
		title += " (FAIL runs marked)"
	}
	p := newPlot(title + "\n" + caption)
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency: receive − intended send time"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker = percentileTicks{}
	p.Y.Tick.Marker = durationTicks{}
	maxX, minY := 10.0, math.Inf(1)
	// One legend entry per implementation; the subscribers' and the
	// pacer's lines, in lighter shades of its colour, get one entry each
	// for all implementations, so the legend stays small.
	perSub, pacer := false, false
	for _, r := range rs {
		lines := []specLine{}
		label := string(r.Impl)
		if r.Status == StatusFail {
			label += " — FAIL"
		}
		if len(r.subLatency) > 1 {
			// Each subscriber thin, in a light shade of the
			// implementation's colour; their aggregate thick.
			for _, h := range r.subLatency {
				lines = append(lines, specLine{"", spectrum(h), lighten(implColor[r.Impl]), false, true})
				perSub = true
			}
			label += ", all subscribers"
		}
		lines = append(lines, specLine{label, spectrum(r.latency), implColor[r.Impl], r.Status == StatusFail, false})
		if r.lateness != nil && r.lateness.TotalCount() > 0 {
			lines = append(lines, specLine{"", spectrum(r.lateness), lighten(implColor[r.Impl]), true, false})
			pacer = true
		}
		for _, l := range lines {
			xys := make(plotter.XYs, 0, len(l.pts))
			for _, pt := range l.pts {
				xys = append(xys, plotter.XY{X: pt.X, Y: float64(max(pt.Value, 1))})
				maxX = max(maxX, pt.X)
				if !l.dashed {
					minY = min(minY, float64(max(pt.Value, 1)))
				}
			}
			if len(xys) == 0 {
				continue
			}
			line, err := plotter.NewLine(xys)
			if err != nil {
				return nil, fmt.Errorf("bench: plot: %w", err)
			}
			line.Color = l.c
			line.Width = vg.Points(2)
			if l.dashed {
				line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
				line.Width = vg.Points(1.2)
			}
			if l.thin {
				line.Width = vg.Points(0.8)
			}
			p.Add(line)
			if l.name != "" {
				p.Legend.Add(l.name, line)
			}
		}
	}
	grey := color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}
	if perSub {
		p.Legend.Add("thin, light: each subscriber", &plotter.Line{LineStyle: draw.LineStyle{Color: grey, Width: vg.Points(0.8)}})
	}
	if pacer {
		p.Legend.Add("dashed, light: the pacer's lateness (publisher)", &plotter.Line{LineStyle: draw.LineStyle{Color: grey, Width: vg.Points(1.2),
			Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}})
	}
	p.X.Min, p.X.Max = 1, maxX*1.15
	// The pacer's lateness goes down to nanoseconds; below the fastest
	// latency it is of no interest and would squash the plot.
	if !math.IsInf(minY, 1) {
		p.Y.Min = max(minY/3, 10)
	}
	return p, nil
}

// latencyTitle names what a latency plot shows.
func latencyTitle(s *RunSpec) string {
	t := fmt.Sprintf("Latency by percentile: %s, %s ticks/s", s.Transport, FormatRate(s.Rate))
	switch {
	case s.Scenario == ScenarioFanout:
		t += fmt.Sprintf(", fan-out to %d subscribers", s.Subscribers)
	case s.Scenario == ScenarioLoss:
		t += fmt.Sprintf(", %g%% of packets dropped", s.Drop*100)
	}
	return t
}

// caption is the small print under a plot: what was measured, where.
func (rep *Report) caption() string {
	m, c := rep.Meta, rep.Config
	return fmt.Sprintf("commit %.10s, %s, %d × %s, %v measured after %v warm-up, pace %s",
		m.Commit, m.GoVersion, m.CPUs, m.CPUModel, time.Duration(c.DurationNs), time.Duration(c.WarmupNs), c.Pace)
}

// specLine is one line of a spectrum plot.
type specLine struct {
	name   string
	pts    []SpectrumPoint
	c      color.Color
	dashed bool
	thin   bool
}

// lighten mixes c with white: the pacer's line beside its run's.
func lighten(c color.Color) color.Color {
	r, g, b, _ := c.RGBA()
	mix := func(v uint32) uint8 { return uint8((v>>8 + 2*255) / 3) }
	return color.RGBA{R: mix(r), G: mix(g), B: mix(b), A: 0xff}
}

// throughputPlot draws delivered ticks/s against ticks per message, one
// line per implementation (and per tickcast flush delay); zmq4's one tick
// per message is a single point. FAIL points are red crosses.
func throughputPlot(transport string, rs []*Result, caption string) (*plot.Plot, error) {
	p := newPlot(fmt.Sprintf("Throughput over %s: ticks/s delivered, by ticks per message\n%s", transport, caption))
	p.X.Label.Text = "ticks per message"
	p.Y.Label.Text = "ticks/s delivered at the subscriber"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.Y.Tick.Marker = rateTicks{}
	type series struct {
		name string
		c    color.Color
		pts  plotter.XYs
	}
	var order []string
	all := map[string]*series{}
	var fails plotter.XYs
	var batches []float64
	extra := 0
	for _, r := range rs {
		if r.All.TicksPerSec <= 0 {
			continue
		}
		name := string(r.Impl)
		c := implColor[r.Impl]
		if r.FlushDelay > 0 {
			name += " flush " + r.FlushDelay.String()
			c = palette[extra%len(palette)]
		}
		s := all[name]
		if s == nil {
			s = &series{name: name, c: c}
			if r.FlushDelay > 0 {
				extra++
			}
			all[name] = s
			order = append(order, name)
		}
		pt := plotter.XY{X: float64(r.Batch), Y: r.All.TicksPerSec}
		s.pts = append(s.pts, pt)
		batches = append(batches, pt.X)
		if r.Status == StatusFail {
			fails = append(fails, pt)
		}
	}
	for _, name := range order {
		s := all[name]
		slices.SortFunc(s.pts, func(a, b plotter.XY) int { return int(a.X - b.X) })
		line, pts, err := plotter.NewLinePoints(s.pts)
		if err != nil {
			return nil, fmt.Errorf("bench: plot: %w", err)
		}
		line.Color, line.Width = s.c, vg.Points(2)
		pts.Color, pts.Shape, pts.Radius = s.c, draw.CircleGlyph{}, vg.Points(3)
		label := name
		if name == string(ImplZmq4) {
			label += " (1 tick per message)"
		}
		p.Add(line, pts)
		p.Legend.Add(label, line, pts)
	}
	if len(fails) > 0 {
		sc, err := plotter.NewScatter(fails)
		if err != nil {
			return nil, fmt.Errorf("bench: plot: %w", err)
		}
		sc.Color, sc.Shape, sc.Radius = failColor, draw.CrossGlyph{}, vg.Points(7)
		p.Add(sc)
		p.Legend.Add("FAIL (lost ticks)", sc)
		p.Title.Text += "  (FAIL marked)"
	}
	slices.Sort(batches)
	batches = slices.Compact(batches)
	var ticks []plot.Tick
	for _, b := range batches {
		ticks = append(ticks, plot.Tick{Value: b, Label: fmt.Sprint(b)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	if len(batches) > 0 {
		p.X.Min, p.X.Max = batches[0]/1.3, batches[len(batches)-1]*1.3
	}
	return p, nil
}

// percentileTicks label the 1/(1−p) axis with percentiles.
type percentileTicks struct{}

func (percentileTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for x := 1.0; x <= hi*1.0001; x *= 10 {
		ts = append(ts, plot.Tick{Value: x, Label: percentLabel(x)})
		if x*2 < hi && x == 1 {
			ts = append(ts, plot.Tick{Value: 2, Label: "50%"})
		}
	}
	return ts
}

// percentLabel names the percentile at x = 1/(1−p): 10 → 90%, 1000 → 99.9%.
func percentLabel(x float64) string {
	if x <= 1 {
		return "0%"
	}
	p := 100 * (1 - 1/x)
	s := fmt.Sprintf("%.6f", p)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "%"
}

// durationTicks label a log axis of nanoseconds at powers of ten.
type durationTicks struct{}

func (durationTicks) Ticks(lo, hi float64) []plot.Tick { return logTicks(lo, hi, 100, axisNs) }

// axisNs labels a duration compactly: 1ns, 10µs, 2ms, 1s.
func axisNs(v float64) string {
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 3, 64) }
	switch {
	case v < 1e3:
		return f(v) + "ns"
	case v < 1e6:
		return f(v/1e3) + "µs"
	case v < 1e9:
		return f(v/1e6) + "ms"
	}
	return f(v/1e9) + "s"
}

// rateTicks label a log axis of rates at powers of ten.
type rateTicks struct{}

func (rateTicks) Ticks(lo, hi float64) []plot.Tick { return logTicks(lo, hi, 1000, FormatRate) }

// logTicks puts a labelled tick at every power of ten in [lo, hi], minor
// ticks between; a range narrower than narrowBelow (a ratio) gets 2× and
// 5× labels too, so that it has enough of them.
func logTicks(lo, hi, narrowBelow float64, label func(float64) string) []plot.Tick {
	if lo <= 0 {
		lo = 1
	}
	narrow := hi/lo < narrowBelow
	var ts []plot.Tick
	for d := math.Pow(10, math.Floor(math.Log10(lo))); d <= hi; d *= 10 {
		for m := 1.0; m < 10; m++ {
			v := d * m
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || (narrow && (m == 2 || m == 5)) {
				t.Label = label(v)
			}
			ts = append(ts, t)
		}
	}
	return ts
}
