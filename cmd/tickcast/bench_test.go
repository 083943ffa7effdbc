package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"image/png"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary be a bench's child process: the bench
// re-executes its own binary (os.Executable(), here the test binary) with
// the hidden child subcommand.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == childCommand {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, &env{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
		stop()
		os.Exit(code)
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// benchReport is the part of results.json the tests check.
type benchReport struct {
	Metadata struct {
		Commit    string `json:"commit"`
		GoVersion string `json:"go_version"`
		CPUModel  string `json:"cpu_model"`
		CPUs      int    `json:"cpus"`
		Libzmq    string `json:"libzmq"`
	} `json:"metadata"`
	Config struct {
		WarmupNs   int64 `json:"warmup_ns"`
		DurationNs int64 `json:"duration_ns"`
	} `json:"config"`
	Results []struct {
		ID        string   `json:"id"`
		Scenario  string   `json:"scenario"`
		Impl      string   `json:"impl"`
		Rate      float64  `json:"rate"`
		Batch     int      `json:"batch"`
		Status    string   `json:"status"`
		Reasons   []string `json:"reasons"`
		Publisher struct {
			Sent     int64              `json:"sent"`
			Rate     float64            `json:"rate"`
			Lateness map[string]float64 `json:"lateness_ns"`
			Proc     map[string]any     `json:"proc"`
		} `json:"publisher"`
		Subscribers []struct {
			Name     string             `json:"name"`
			Received int64              `json:"received"`
			Latency  map[string]float64 `json:"latency_ns"`
			Proc     map[string]any     `json:"proc"`
		} `json:"subscribers"`
		Aggregate struct {
			Received    int64              `json:"received"`
			Lost        int64              `json:"lost"`
			TicksPerSec float64            `json:"ticks_per_s"`
			Latency     map[string]float64 `json:"latency_ns"`
		} `json:"aggregate"`
		Files map[string]string `json:"files"`
	} `json:"results"`
	Ratios []struct {
		Group  string `json:"group"`
		Versus string `json:"versus"`
	} `json:"ratios"`
}

func readReport(t *testing.T, dir string) benchReport {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("results.json does not parse: %v\n%s", err, b)
	}
	return rep
}

// checkHgrm checks that a file is a percentile distribution as
// PercentilesPrint writes it, with total samples.
func checkHgrm(t *testing.T, path string, total int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	rows, lastP := 0, -1.0
	var footerTotal int64 = -1
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "", strings.HasPrefix(line, "Value"):
		case strings.HasPrefix(line, "#[Max"):
			_, after, _ := strings.Cut(line, "Total count    =")
			footerTotal, _ = strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(after, "]")), 10, 64)
		case strings.HasPrefix(line, "#"):
		default:
			f := strings.Fields(line)
			if len(f) != 4 {
				t.Fatalf("%s: bad row %q", path, line)
			}
			p, err := strconv.ParseFloat(f[1], 64)
			if err != nil || p < lastP || p > 1 {
				t.Fatalf("%s: bad percentile in %q", path, line)
			}
			lastP = p
			rows++
		}
	}
	if rows == 0 || footerTotal != total {
		t.Fatalf("%s: %d rows, total %d; want rows and total %d:\n%s", path, rows, footerTotal, total, b)
	}
}

func checkPlots(t *testing.T, dir, base string) (svg string) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, base+".png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s.png is not a PNG: %v", base, err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 200 {
		t.Fatalf("%s.png is %v: too small to read", base, b)
	}
	b, err := os.ReadFile(filepath.Join(dir, base+".svg"))
	if err != nil {
		t.Fatal(err)
	}
	var root struct {
		XMLName xml.Name
	}
	if err := xml.Unmarshal(b, &root); err != nil || root.XMLName.Local != "svg" {
		t.Fatalf("%s.svg is not SVG (root %q): %v", base, root.XMLName.Local, err)
	}
	return string(b)
}

// TestBenchEndToEnd runs a tiny benchmark (low rate, short, tcp on
// 127.0.0.1, separate processes) and checks that its outputs are
// well-formed. It never checks a timing.
func TestBenchEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	code, stdout, stderr := tickcast(ctx, "bench", "--scenario", "latency,throughput", "--impl", "tickcast,libzmq,zmq4",
		"--rates", "500", "--batches", "16", "--warmup", "150ms", "--duration", "400ms",
		"--out", dir, "--cache", filepath.Join(dir, "cache"))
	if code != exitOK && code != exitFailure {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	t.Logf("stdout:\n%s", stdout)
	rep := readReport(t, dir)
	if rep.Metadata.Commit == "" || rep.Metadata.GoVersion == "" || rep.Metadata.CPUs < 1 || rep.Config.DurationNs != int64(400*time.Millisecond) {
		t.Fatalf("metadata incomplete: %+v %+v", rep.Metadata, rep.Config)
	}
	ran := map[string]bool{}
	anyFail := false
	for _, r := range rep.Results {
		switch r.Status {
		case "SKIP":
			// Only libzmq may be missing (no gcc or libzmq3-dev); in CI
			// it must be there.
			if r.Impl != "libzmq" || os.Getenv("CI") == "true" {
				t.Errorf("%s skipped: %q", r.ID, r.Reasons)
			}
			t.Logf("%s skipped: %q", r.ID, r.Reasons)
			continue
		case "FAIL":
			// A loaded machine may make a run FAIL; it must say why.
			anyFail = true
			if len(r.Reasons) == 0 {
				t.Errorf("%s: FAIL without a reason", r.ID)
			}
			if !strings.Contains(stdout, "FAIL") {
				t.Errorf("%s FAILed but the terminal report does not say so", r.ID)
			}
		case "ok":
		default:
			t.Errorf("%s: status %q", r.ID, r.Status)
		}
		ran[r.Scenario+" "+r.Impl] = true
		if r.Publisher.Sent <= 0 || len(r.Subscribers) != 1 || r.Publisher.Proc == nil || r.Subscribers[0].Proc == nil {
			t.Errorf("%s: publisher or subscriber results missing: %+v", r.ID, r)
		}
		if r.Scenario == "latency" {
			if r.Publisher.Sent != 200 { // 500/s for 400ms
				t.Errorf("%s: sent %d ticks, want the schedule's 200", r.ID, r.Publisher.Sent)
			}
			for _, k := range []string{"p50", "p90", "p99", "p99_9", "p99_99", "max"} {
				if _, ok := r.Aggregate.Latency[k]; !ok {
					t.Errorf("%s: no %s in the latency summary", r.ID, k)
				}
			}
			if int64(r.Publisher.Lateness["count"]) != r.Publisher.Sent {
				t.Errorf("%s: pacer lateness has %g samples, want %d", r.ID, r.Publisher.Lateness["count"], r.Publisher.Sent)
			}
			checkHgrm(t, filepath.Join(dir, r.Files["hgrm"]), int64(r.Aggregate.Latency["count"]))
			checkHgrm(t, filepath.Join(dir, r.Files["hgrm_pacer"]), r.Publisher.Sent)
		} else if r.Aggregate.Received > 0 && r.Aggregate.TicksPerSec <= 0 {
			t.Errorf("%s: received %d ticks but no rate", r.ID, r.Aggregate.Received)
		}
		if r.Files["plot_png"] == "" {
			t.Errorf("%s: no plot", r.ID)
		}
	}
	for _, want := range []string{"latency tickcast", "latency zmq4", "throughput tickcast", "throughput zmq4"} {
		if !ran[want] {
			t.Errorf("no %s run", want)
		}
	}
	if (code == exitFailure) != anyFail {
		t.Errorf("exit %d, but FAIL runs: %v", code, anyFail)
	}
	if len(rep.Ratios) == 0 {
		t.Error("no tickcast ÷ other ratios")
	}
	checkPlots(t, dir, "latency-tcp-500")
	checkPlots(t, dir, "throughput-tcp")

	// results.json alone redraws it all.
	again := t.TempDir()
	if code, stdout, stderr := tickcast(ctx, "bench", "--replot", dir, "--out", again); code != exitOK && code != exitFailure {
		t.Fatalf("--replot: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if a, b := readReport(t, dir), readReport(t, again); len(a.Results) != len(b.Results) || len(a.Ratios) != len(b.Ratios) {
		t.Fatalf("--replot wrote %d results and %d ratios, want %d and %d", len(b.Results), len(b.Ratios), len(a.Results), len(a.Ratios))
	}
	checkPlots(t, again, "latency-tcp-500")
	checkPlots(t, again, "throughput-tcp")
	for _, r := range rep.Results {
		if h := r.Files["hgrm"]; h != "" {
			checkHgrm(t, filepath.Join(again, h), int64(r.Aggregate.Latency["count"]))
		}
	}
}

// TestBenchMarksAnImpossibleTargetFAIL asks for far more ticks per second
// than a publisher can send: the run must be FAIL in the terminal report,
// the JSON, the plot and the exit status.
func TestBenchMarksAnImpossibleTargetFAIL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code, stdout, stderr := tickcast(ctx, "bench", "--scenario", "latency", "--impl", "tickcast",
		"--rates", "200M", "--warmup", "0s", "--duration", "1ms", "--pace", "spin", "--out", dir)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d (a FAIL run)\nstdout:\n%s\nstderr:\n%s", code, exitFailure, stdout, stderr)
	}
	rep := readReport(t, dir)
	if len(rep.Results) != 1 || rep.Results[0].Status != "FAIL" {
		t.Fatalf("results %+v, want one FAIL run", rep.Results)
	}
	if r := rep.Results[0]; !strings.Contains(strings.Join(r.Reasons, "; "), "missed its target") {
		t.Errorf("reasons %q, want the missed target among them", r.Reasons)
	}
	if !strings.Contains(stdout, "FAIL") || !strings.Contains(stdout, "missed its target") {
		t.Errorf("the terminal report does not mark the FAIL:\n%s", stdout)
	}
	if svg := checkPlots(t, dir, "latency-tcp-200M"); !strings.Contains(svg, "FAIL") {
		t.Error("the plot does not mark the FAIL")
	}
}

func TestBenchUsage(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"bench", "--help"}, exitOK, ""},
		{[]string{"bench", "--scenario", "speed"}, exitUsage, "unknown scenario"},
		{[]string{"bench", "--rates", "fast"}, exitUsage, "--rates"},
		{[]string{"bench", "--pace", "nap"}, exitUsage, "pace"},
		{[]string{"bench", "--pub-cpus", "a"}, exitUsage, "--pub-cpus"},
		{[]string{"bench", "--cpus", "0"}, exitUsage, "PUB:SUB"},
		{[]string{"bench-child", "x"}, exitUsage, "spec on stdin"},
	}
	for _, tt := range tests {
		code, _, stderr := tickcast(ctx, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, want %d; stderr %q should contain %q", tt.args, code, tt.code, stderr, tt.want)
		}
	}
	if _, stdout, _ := tickcast(ctx, "bench", "--help"); !strings.Contains(stdout, "  --scenario LIST") {
		t.Errorf("bench --help:\n%s", stdout)
	}
	if _, stdout, _ := tickcast(ctx, "--help"); strings.Contains(stdout, childCommand) || !strings.Contains(stdout, "bench") {
		t.Errorf("the usage lists the hidden child subcommand, or not bench:\n%s", stdout)
	}
}

func TestParseRates(t *testing.T) {
	got, err := parseRates("1k, 10k,100000,1.5M")
	if err != nil || len(got) != 4 || got[0] != 1e3 || got[1] != 1e4 || got[2] != 1e5 || got[3] != 1.5e6 {
		t.Fatalf("parseRates = %v, %v", got, err)
	}
	for _, bad := range []string{"x", "-1k", "0"} {
		if _, err := parseRates(bad); err == nil {
			t.Errorf("parseRates(%q) accepted it", bad)
		}
	}
}
