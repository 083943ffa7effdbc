package bench

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"syscall"
	"time"
)

// Metadata is what a reader needs to judge and reproduce a benchmark.
type Metadata struct {
	Start      time.Time `json:"start"`
	Command    string    `json:"command,omitempty"`
	Commit     string    `json:"commit"`
	Dirty      bool      `json:"dirty"` // the work tree had uncommitted changes
	GoVersion  string    `json:"go_version"`
	OS         string    `json:"os"`
	Arch       string    `json:"arch"`
	Kernel     string    `json:"kernel,omitempty"`
	CPUModel   string    `json:"cpu_model"`
	CPUs       int       `json:"cpus"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	GOGC       string    `json:"gogc"`       // the environment's, "" if unset (100)
	GOMEMLIMIT string    `json:"gomemlimit"` // the environment's, "" if unset
	Libzmq     string    `json:"libzmq,omitempty"`
}

// collectMetadata describes this machine and build. Nothing here fails a
// benchmark: what cannot be found is left empty.
func collectMetadata(ctx context.Context) Metadata {
	m := Metadata{
		Start:      time.Now().UTC(),
		GoVersion:  runtime.Version(),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GOGC:       os.Getenv("GOGC"),
		GOMEMLIMIT: os.Getenv("GOMEMLIMIT"),
		CPUModel:   cpuModel("/proc/cpuinfo"),
	}
	m.Commit, m.Dirty = commit(ctx)
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		m.Kernel = utsString(u.Release[:])
	}
	return m
}

// commit returns the build's VCS revision, from the build info when the
// binary was built by `go build` in a work tree, else from git.
func commit(ctx context.Context) (rev string, dirty bool) {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if rev != "" {
		return rev, dirty
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown", false
	}
	rev = strings.TrimSpace(string(out))
	st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output()
	return rev, err == nil && len(strings.TrimSpace(string(st))) > 0
}

// cpuModel reads the first "model name" of a /proc/cpuinfo.
func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func utsString(b []int8) string {
	var s strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		s.WriteByte(byte(c))
	}
	return s.String()
}

// ProcStats are one benchmark process's resource figures over its life.
type ProcStats struct {
	GCCycles       uint64  `json:"gc_cycles"`
	GCPauseTotalNs int64   `json:"gc_pause_total_ns"` // from runtime/metrics' bucketed histogram: approximate
	GCPauseMaxNs   int64   `json:"gc_pause_max_ns"`   // upper bound of the largest bucket hit
	HeapAllocBytes uint64  `json:"heap_alloc_bytes"`  // cumulative bytes allocated
	UserSeconds    float64 `json:"cpu_user_s"`
	SystemSeconds  float64 `json:"cpu_system_s"`
	MaxRSSKiB      int64   `json:"max_rss_kib"`
	CPUs           []int   `json:"cpus,omitempty"` // pinned to these, if pinned
	GOMAXPROCS     int     `json:"gomaxprocs,omitempty"`
}

// gcMetrics are the runtime/metrics this harness reads. The pause
// histogram is /sched/pauses/total/gc:seconds (stop-the-world pauses of the
// GC, Go 1.22 on).
var gcMetrics = []string{
	"/gc/cycles/total:gc-cycles",
	"/sched/pauses/total/gc:seconds",
	"/gc/heap/allocs:bytes",
}

// procStats reads this process's GC figures and CPU use.
func procStats() ProcStats {
	samples := make([]metrics.Sample, len(gcMetrics))
	for i, n := range gcMetrics {
		samples[i].Name = n
	}
	metrics.Read(samples)
	var ps ProcStats
	for _, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindUint64:
			switch s.Name {
			case "/gc/cycles/total:gc-cycles":
				ps.GCCycles = s.Value.Uint64()
			case "/gc/heap/allocs:bytes":
				ps.HeapAllocBytes = s.Value.Uint64()
			}
		case metrics.KindFloat64Histogram:
			ps.GCPauseTotalNs, ps.GCPauseMaxNs = pauseTotals(s.Value.Float64Histogram())
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		ps.UserSeconds = tvSeconds(ru.Utime)
		ps.SystemSeconds = tvSeconds(ru.Stime)
		ps.MaxRSSKiB = ru.Maxrss
	}
	ps.GOMAXPROCS = runtime.GOMAXPROCS(0)
	return ps
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

// pauseTotals sums a pause histogram in seconds: each bucket's count times
// its midpoint (its finite bound where the other is infinite), and the
// upper bound of the highest bucket with a count.
func pauseTotals(h *metrics.Float64Histogram) (totalNs, maxNs int64) {
	if h == nil {
		return 0, 0
	}
	var total float64
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		lo, hi := h.Buckets[i], h.Buckets[i+1]
		mid := (lo + hi) / 2
		switch {
		case isInf(lo):
			mid = hi
		case isInf(hi):
			mid = lo
		}
		total += float64(c) * mid
		top := hi
		if isInf(top) {
			top = lo
		}
		maxNs = int64(top * 1e9)
	}
	return int64(total * 1e9), maxNs
}

func isInf(f float64) bool { return f > 1e300 || f < -1e300 }
