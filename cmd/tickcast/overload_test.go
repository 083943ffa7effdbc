package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binDir  string // removed by TestMain
	binPath string
	binErr  error
)

// binary builds the real tickcast command once per test binary, without
// the race detector: the overload and usage tests run it as a user does.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tickcast-bin")
		if err != nil {
			binErr = err
			return
		}
		binDir, binPath = dir, filepath.Join(dir, "tickcast")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is a tickcast process the test started.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	elapsed        time.Duration
	hwm            atomic.Int64 // the peak resident set seen, in bytes
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary(t), args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	begin := time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		p.watchRSS()
	}()
	go func() {
		p.cmd.Wait()
		p.elapsed = time.Since(begin)
		<-watching
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait waits for the process to exit, killing it (and failing) after limit:
// a process that does not stop when told is the defect under test here.
func (p *proc) wait(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		p.cmd.Process.Signal(syscall.SIGQUIT) // a goroutine dump on stderr
		<-p.done
		t.Fatalf("%v still running after %v; stderr:\n%s", p.cmd.Args, limit, p.stderr.String())
	}
}

// watchRSS follows the process's peak resident set (VmHWM) until it exits.
// Not rusage's maxrss: Go starts a child with vfork, so the child's maxrss
// counts the parent's resident set at the exec, the test binary's here.
func (p *proc) watchRSS() {
	path := fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			return // gone
		}
		if m := vmHWM.FindSubmatch(b); m != nil {
			kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
			if kb<<10 > p.hwm.Load() {
				p.hwm.Store(kb << 10)
			}
		}
		if bytes.Contains(b, []byte("State:\tZ")) {
			return // exited, not yet waited for: its memory is gone
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var vmHWM = regexp.MustCompile(`VmHWM:\s+(\d+) kB`)

// maxRSS is the process's peak resident set, in bytes, as last seen (at
// most 10 ms before it exited).
func (p *proc) maxRSS() int64 { return p.hwm.Load() }

// A publisher asked for far more than the machine can do (100 million
// ticks/s) still stops when its duration is up, keeps its memory bounded,
// counts every tick once and says that it fell behind, while a subscriber
// reads it. It must hold on a loaded machine: the test runs beside the
// rest of the suite on two cores.
func TestPubFarAboveTheMachineStopsOnTimeWithBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes for seconds")
	}
	const duration = 2 * time.Second
	for _, ep := range []string{
		fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t)),
		fmt.Sprintf("epgm://127.0.0.1;239.192.77.%d:%d", 1+os.Getpid()%200, 20000+os.Getpid()%5000),
	} {
		scheme, _, _ := strings.Cut(ep, "://")
		t.Run(scheme, func(t *testing.T) {
			sub := start(t, "sub", "--endpoint", ep, "--quiet", "--json", "--until-end", "--timeout", "60s")
			time.Sleep(200 * time.Millisecond) // the subscriber is connecting (tcp) or has joined (epgm)
			pub := start(t, "pub", "--endpoint", ep, "--rate", "100000000", "--duration", duration.String(), "--symbols", "50", "--delay", "500ms")
			// On time: the duration, plus the close (the publisher's queue
			// drains, the sinks linger up to a second), with room for a
			// loaded machine. Before the fix it ran for minutes.
			pub.wait(t, duration+15*time.Second)
			if code := pub.cmd.ProcessState.ExitCode(); code != 0 {
				t.Fatalf("pub exit %d; stderr:\n%s", code, pub.stderr.String())
			}
			out := pub.stdout.String()
			t.Logf("pub: %v, max RSS %d MiB\n%s", pub.elapsed.Round(time.Millisecond), pub.maxRSS()>>20, out)
			// Bounded memory: the publisher's queue (2^20 ticks of 40
			// bytes, twice: the queue and the batch being sent), a step of
			// the simulator, the sinks' queues (epgm: the 31 MB transmit
			// window and the backlog). Measured: about 50 MiB over tcp,
			// 190 MiB over epgm.
			if rss := pub.maxRSS(); rss > 400<<20 {
				t.Errorf("pub max RSS %d MiB, want under 400 MiB", rss>>20)
			}
			m := regexp.MustCompile(`published ([\d,]+) ticks`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no summary:\n%s", out)
			}
			published, _ := strconv.ParseInt(strings.ReplaceAll(m[1], ",", ""), 10, 64)
			// Sane counters: nothing beyond what the duration allows; the
			// shortfall said as such, with plausible figures.
			asked := int64(100_000_000 * pub.elapsed.Seconds())
			if published <= 0 || published > asked {
				t.Errorf("published %d ticks in %v at 100M/s asked", published, pub.elapsed)
			}
			if !strings.Contains(out, "behind schedule: asked 100,000,000 ticks/s") {
				t.Errorf("the summary does not say the publisher fell behind:\n%s", out)
			}
			if m := regexp.MustCompile(`; ([\d,]+) ticks due`).FindStringSubmatch(out); m == nil {
				t.Errorf("no count of skipped ticks:\n%s", out)
			} else if n, _ := strconv.ParseInt(strings.ReplaceAll(m[1], ",", ""), 10, 64); n <= 0 || n > asked {
				t.Errorf("%d ticks skipped, out of %d asked", n, asked)
			}

			// The subscriber heard the end of the session, and every tick
			// published it received or reported missing: exactly. (It was
			// subscribed before the first tick: pub --delay.)
			sub.wait(t, 60*time.Second)
			lines := strings.Split(strings.TrimSpace(sub.stdout.String()), "\n")
			var s struct {
				Received, Missing uint64
				DecodeErrors      uint64 `json:"decode_errors"`
				Ends              uint64 `json:"session_ends"`
				Topics            map[string]struct{ Received, Missing uint64 }
			}
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
				t.Fatalf("sub summary: %v\nstdout tail: %s\nstderr: %s", err, lines[len(lines)-1], sub.stderr.String())
			}
			t.Logf("sub: received %d, missing %d, %d topics, session ends %d", s.Received, s.Missing, len(s.Topics), s.Ends)
			if s.Ends != 1 || s.DecodeErrors != 0 || s.Received == 0 {
				t.Errorf("subscriber: %d session ends, %d decode errors, %d ticks", s.Ends, s.DecodeErrors, s.Received)
			}
			var got uint64
			for _, tt := range s.Topics {
				got += tt.Received + tt.Missing
			}
			if got != uint64(published) || s.Received+s.Missing != got {
				t.Errorf("subscriber: received %d + missing %d (by topic: %d), the publisher published %d", s.Received, s.Missing, got, published)
			}
		})
	}
}

// A publisher stops on a signal too, however far behind it is.
func TestPubFarAboveTheMachineStopsOnSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes for seconds")
	}
	pub := start(t, "pub", "--endpoint", fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t)), "--rate", "100000000")
	time.Sleep(time.Second)
	pub.cmd.Process.Signal(os.Interrupt)
	pub.wait(t, 15*time.Second)
	if code := pub.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("pub exit %d after SIGINT; stderr:\n%s", code, pub.stderr.String())
	}
	if !strings.Contains(pub.stdout.String(), "published ") {
		t.Fatalf("no summary after SIGINT:\n%s", pub.stdout.String())
	}
}
