package bench

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"
)

func TestCPUModel(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, text, want string
	}{
		{"x86", "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t: fpu\n", "Intel(R) Xeon(R) Processor"},
		{"none", "processor : 0\nBogoMIPS : 50.00\n", ""},
	}
	for _, tt := range tests {
		p := filepath.Join(dir, tt.name)
		if err := os.WriteFile(p, []byte(tt.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := cpuModel(p); got != tt.want {
			t.Errorf("%s: cpuModel = %q, want %q", tt.name, got, tt.want)
		}
	}
	if cpuModel(filepath.Join(dir, "missing")) != "" {
		t.Error("a missing file has no model")
	}
}

func TestPauseTotals(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name           string
		h              *metrics.Float64Histogram
		total, maxSeen int64
	}{
		{"nil", nil, 0, 0},
		{"two buckets", &metrics.Float64Histogram{Counts: []uint64{2, 0, 1}, Buckets: []float64{0, 10e-6, 20e-6, 100e-6}},
			2*5_000 + 60_000, 100_000},
		{"open-ended top bucket", &metrics.Float64Histogram{Counts: []uint64{0, 1}, Buckets: []float64{0, 1e-3, inf}},
			1_000_000, 1_000_000},
	}
	for _, tt := range tests {
		total, mx := pauseTotals(tt.h)
		if total != tt.total || mx != tt.maxSeen {
			t.Errorf("%s: pauseTotals = %d, %d; want %d, %d", tt.name, total, mx, tt.total, tt.maxSeen)
		}
	}
}

func TestMetadataAndProcStats(t *testing.T) {
	m := collectMetadata(context.Background())
	if m.GoVersion != runtime.Version() || m.CPUs < 1 || m.Commit == "" || m.Start.IsZero() {
		t.Fatalf("metadata incomplete: %+v", m)
	}
	runtime.GC()
	ps := procStats()
	if ps.GCCycles < 1 || ps.HeapAllocBytes == 0 || ps.GOMAXPROCS < 1 {
		t.Fatalf("proc stats after a GC: %+v", ps)
	}
}
