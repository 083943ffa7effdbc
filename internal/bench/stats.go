package bench

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram geometry: 1 ns to 1 hour at 3 significant digits (~270 KB).
// Every process allocates the ones it records into once, before it starts.
const (
	histLowest  = 1
	histHighest = int64(time.Hour)
	histDigits  = 3
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, histDigits)
}

// record records v, clamped into the histogram's range: a negative latency
// (clocks disagreeing) counts as 1 ns and is counted apart by the caller;
// a value beyond an hour counts as an hour rather than vanishing.
func record(h *hdrhistogram.Histogram, v int64) {
	_ = h.RecordValue(min(max(v, histLowest), histHighest))
}

// Percentiles summarise a latency distribution, in nanoseconds.
type Percentiles struct {
	Count int64   `json:"count"`
	Min   int64   `json:"min"`
	Mean  float64 `json:"mean"`
	P50   int64   `json:"p50"`
	P90   int64   `json:"p90"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p99_9"`
	P9999 int64   `json:"p99_99"`
	Max   int64   `json:"max"`
}

// PercentileNames are the columns of every table, in order.
var PercentileNames = []string{"p50", "p90", "p99", "p99.9", "p99.99", "max"}

// Values returns the percentiles in the order of PercentileNames.
func (p Percentiles) Values() []int64 {
	return []int64{p.P50, p.P90, p.P99, p.P999, p.P9999, p.Max}
}

// percentilesOf extracts the summary of h. ValueAtQuantile takes a
// percent (0..100), not a fraction: 99.9 is p99.9.
func percentilesOf(h *hdrhistogram.Histogram) Percentiles {
	if h == nil || h.TotalCount() == 0 {
		return Percentiles{}
	}
	return Percentiles{
		Count: h.TotalCount(),
		Min:   h.Min(),
		Mean:  h.Mean(),
		P50:   h.ValueAtQuantile(50),
		P90:   h.ValueAtQuantile(90),
		P99:   h.ValueAtQuantile(99),
		P999:  h.ValueAtQuantile(99.9),
		P9999: h.ValueAtQuantile(99.99),
		Max:   h.Max(),
	}
}

// SpectrumPoint is one point of a percentile spectrum: the latency at
// percentile Percentile, plotted at X = 1/(1 − Percentile/100).
type SpectrumPoint struct {
	Percentile float64 `json:"percentile"`
	X          float64 `json:"x"`
	Value      int64   `json:"value_ns"`
}

// spectrum returns the percentile spectrum of h, five points per halving
// of the distance to 100% (as .hgrm files have it), up to the resolution
// the sample count allows, and its maximum last.
func spectrum(h *hdrhistogram.Histogram) []SpectrumPoint {
	n := h.TotalCount()
	if n == 0 {
		return nil
	}
	var out []SpectrumPoint
	for k := 0; ; k++ {
		p := 100 * (1 - math.Pow(0.5, float64(k)/5))
		x := 1 / (1 - p/100)
		if x > float64(n) {
			break
		}
		out = append(out, SpectrumPoint{Percentile: p, X: x, Value: h.ValueAtQuantile(p)})
	}
	// The maximum sits where the last sample does: at 1/(1 − (n−1)/n) = n,
	// or just past the last point.
	x := float64(n)
	if len(out) > 0 && x <= out[len(out)-1].X {
		x = out[len(out)-1].X * 1.05
	}
	p := 100 * (1 - 1/x)
	return append(out, SpectrumPoint{Percentile: p, X: x, Value: h.Max()})
}

// writeHgrm writes h's percentile distribution in the .hgrm text format
// (HdrHistogram's PercentilesPrint), values in microseconds.
func writeHgrm(w io.Writer, h *hdrhistogram.Histogram) error {
	if _, err := h.PercentilesPrint(w, 5, 1000); err != nil {
		return fmt.Errorf("bench: writing .hgrm: %w", err)
	}
	return nil
}

// encodeHistogram turns h into text a child can print in its JSON result
// (HdrHistogram's compressed V2 encoding, base64).
func encodeHistogram(h *hdrhistogram.Histogram) (string, error) {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return "", fmt.Errorf("bench: encoding histogram: %w", err)
	}
	return string(b), nil
}

func decodeHistogram(s string) (*hdrhistogram.Histogram, error) {
	if s == "" {
		return newHistogram(), nil
	}
	h, err := hdrhistogram.Decode([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("bench: decoding histogram: %w", err)
	}
	return h, nil
}

// FormatNs formats a latency for people: 850ns, 45.2µs, 3.10ms, 1.20s.
func FormatNs(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", ns)
	case d < 100*time.Microsecond:
		return fmt.Sprintf("%.1fµs", float64(ns)/1e3)
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(ns)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(ns)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
