package bench

import (
	"bufio"
	"bytes"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// within reports whether got is v at the histogram's precision (3
// significant digits).
func within(got, v int64) bool { return math.Abs(float64(got-v)) <= float64(v)/500+1 }

func TestPercentilesOf(t *testing.T) {
	h := newHistogram()
	for v := int64(1); v <= 100_000; v++ { // 1ns … 100µs, uniform
		record(h, v*1000/1000)
	}
	p := percentilesOf(h)
	tests := []struct {
		name string
		got  int64
		want int64
	}{
		{"count", p.Count, 100_000},
		{"min", p.Min, 1},
		{"p50", p.P50, 50_000},
		{"p90", p.P90, 90_000},
		{"p99", p.P99, 99_000},
		{"p99.9", p.P999, 99_900},
		{"p99.99", p.P9999, 99_990},
		{"max", p.Max, 100_000},
	}
	for _, tt := range tests {
		if !within(tt.got, tt.want) {
			t.Errorf("%s = %d, want %d (±0.2%%)", tt.name, tt.got, tt.want)
		}
	}
	// The classic misuse: a fraction where a percent is expected.
	if within(h.ValueAtQuantile(0.99), 99_000) {
		t.Error("ValueAtQuantile(0.99) gave p99: the percent convention changed?")
	}
	if got := percentilesOf(newHistogram()); got != (Percentiles{}) {
		t.Errorf("empty histogram: %+v, want zeros", got)
	}
	if v := p.Values(); len(v) != len(PercentileNames) || v[0] != p.P50 || v[5] != p.Max {
		t.Errorf("Values() = %v, not in the order of %v", v, PercentileNames)
	}
}

func TestRecordClamps(t *testing.T) {
	h := newHistogram()
	record(h, -5)                 // clocks disagreeing
	record(h, 2*int64(time.Hour)) // beyond the range
	record(h, int64(time.Millisecond))
	if h.TotalCount() != 3 {
		t.Fatalf("recorded %d values, want 3: none may vanish", h.TotalCount())
	}
	if h.Min() != 1 || !within(h.Max(), int64(time.Hour)) {
		t.Fatalf("min %d max %d, want 1 and an hour", h.Min(), h.Max())
	}
}

func TestSpectrum(t *testing.T) {
	h := newHistogram()
	for v := int64(1); v <= 10_000; v++ {
		record(h, v*100)
	}
	pts := spectrum(h)
	if len(pts) < 10 {
		t.Fatalf("%d points, want the spectrum", len(pts))
	}
	for i, pt := range pts {
		if math.Abs(pt.X-1/(1-pt.Percentile/100)) > 1e-6*pt.X {
			t.Fatalf("point %d: X %g is not 1/(1−p) for p=%g", i, pt.X, pt.Percentile)
		}
		if i > 0 && (pt.X <= pts[i-1].X || pt.Value < pts[i-1].Value) {
			t.Fatalf("point %d: not increasing: %+v after %+v", i, pt, pts[i-1])
		}
		if pt.X > 10_000*1.06 {
			t.Fatalf("point %d at X=%g: beyond what 10,000 samples resolve", i, pt.X)
		}
	}
	if last := pts[len(pts)-1]; last.Value != h.Max() {
		t.Fatalf("last point %+v, want the max %d", last, h.Max())
	}
	if spectrum(newHistogram()) != nil {
		t.Fatal("an empty histogram has no spectrum")
	}
}

// parseHgrm reads a .hgrm file: its rows (value, percentile, count,
// 1/(1-p)) and its total count.
func parseHgrm(t *testing.T, b []byte) (rows [][4]float64, total int64) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(b))
	header := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "Value"):
			header = true
		case strings.HasPrefix(line, "#[Max"):
			f := strings.Split(line, "Total count    =")
			if len(f) != 2 {
				t.Fatalf("bad footer %q", line)
			}
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(f[1], "]")), 10, 64)
			if err != nil {
				t.Fatalf("bad total in %q: %v", line, err)
			}
			total = n
		case strings.HasPrefix(line, "#"):
		default:
			fs := strings.Fields(line)
			if len(fs) != 4 {
				t.Fatalf("bad row %q", line)
			}
			var r [4]float64
			for i, f := range fs {
				v, err := strconv.ParseFloat(f, 64)
				if err != nil && f != "inf" {
					t.Fatalf("bad number %q in %q", f, line)
				}
				if f == "inf" {
					v = math.Inf(1)
				}
				r[i] = v
			}
			rows = append(rows, r)
		}
	}
	if !header || len(rows) == 0 {
		t.Fatalf("not an .hgrm file:\n%s", b)
	}
	return rows, total
}

func TestWriteHgrmAndEncoding(t *testing.T) {
	h := newHistogram()
	for v := int64(1); v <= 5000; v++ {
		record(h, v*1000) // 1µs … 5ms
	}
	var buf bytes.Buffer
	if err := writeHgrm(&buf, h); err != nil {
		t.Fatal(err)
	}
	rows, total := parseHgrm(t, buf.Bytes())
	if total != 5000 {
		t.Fatalf("total %d, want 5000", total)
	}
	last := rows[len(rows)-1]
	if last[1] != 1 || math.Abs(last[0]-5000) > 10 { // values in µs
		t.Fatalf("last row %v, want percentile 1 at 5000µs", last)
	}
	enc, err := encodeHistogram(h)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeHistogram(enc)
	if err != nil {
		t.Fatal(err)
	}
	if percentilesOf(back) != percentilesOf(h) {
		t.Fatalf("round trip: %+v, want %+v", percentilesOf(back), percentilesOf(h))
	}
	if _, err := decodeHistogram("not base64!"); err == nil {
		t.Fatal("decoding garbage succeeded")
	}
}

func TestFormatNs(t *testing.T) {
	tests := []struct {
		ns   int64
		want string
	}{
		{850, "850ns"}, {45_200, "45.2µs"}, {450_000, "450µs"}, {3_100_000, "3.10ms"}, {1_200_000_000, "1.20s"},
	}
	for _, tt := range tests {
		if got := FormatNs(tt.ns); got != tt.want {
			t.Errorf("FormatNs(%d) = %q, want %q", tt.ns, got, tt.want)
		}
	}
}

func TestRecorderAllocatesNothing(t *testing.T) {
	r := newTickRecorder()
	now := int64(1_700_000_000_000_000_000)
	i := int64(-100)
	allocs := testing.AllocsPerRun(10_000, func() {
		r.tick(now+12_345, now, i, 1)
		i++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per recorded tick, want 0", allocs)
	}
	if r.warmup == 0 || r.received == 0 {
		t.Fatalf("warm-up %d, received %d: both should have counted", r.warmup, r.received)
	}
}

func TestRecorderCounts(t *testing.T) {
	r := newTickRecorder()
	r.tick(1000, 900, -2, 1) // warm-up
	r.tick(1000, 900, -1, 1)
	r.tick(2000, 1500, 0, 1)
	r.tick(2500, 2600, 1, 4) // before its intended time: clock skew
	got := r.result()
	want := childResult{Received: 5, WarmupReceived: 2, FirstRecv: 2000, LastRecv: 2500, MinIntended: 1500, ClockSkew: 4}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("result %+v, want %+v", *got, want)
	}
	if r.lat.TotalCount() != 5 {
		t.Fatalf("%d latencies, want 5 (warm-up excluded)", r.lat.TotalCount())
	}
}
