package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// runTickcast runs the binary in dir, killing it after limit: a usage
// error must be found before any work starts, so the command exits at
// once.
func runTickcast(t *testing.T, bin, dir string, limit time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir // whatever a command writes by mistake lands in a temporary directory
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("tickcast %q still running after %v: a usage error must stop it at once; stderr:\n%s", args, limit, errOut.String())
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// stackTrace matches what a Go panic or fatal error prints.
var stackTrace = regexp.MustCompile(`goroutine \d+|panic|fatal error|\.go:\d+|runtime\.`)

// TestUsageErrors runs the real binary with bad command lines, for every
// command: each is a usage error, exit 2, said in one line on stderr (and
// the line pointing at --help) before anything is bound or run, with
// nothing on stdout and no stack trace. Failures while working, an address
// in use, exit 1. Everything stays on 127.0.0.1.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bin := binary(t)
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	nosuchif := "epgm://nosuchif0;239.192.1.1:5555"
	tcp := "tcp://127.0.0.1:0" // a good sink
	src := "tcp://127.0.0.1:1" // a good source
	tests := []struct {
		args []string
		want string // in the error line
	}{
		// The top level.
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"--bogus"}, `unknown command "--bogus"`},

		// pub: endpoints, checked before anything is bound.
		{[]string{"pub"}, "at least one --endpoint"},
		{[]string{"pub", "--endpoint", "foo://x"}, `unsupported transport "foo"`},
		{[]string{"pub", "--endpoint", "127.0.0.1:6001"}, "not an endpoint"},
		{[]string{"pub", "--endpoint", "tcp://127.0.0.1"}, "no port"},
		{[]string{"pub", "--endpoint", "tcp://:99999"}, `port "99999"`},
		{[]string{"pub", "--endpoint", "tcp://127.0.0.1:-1"}, `port "-1"`},
		{[]string{"pub", "--endpoint", "ipc://"}, "no path"},
		{[]string{"pub", "--endpoint", "tcp://127.0.0.1:0", "--subscribers", "-1"}, "--subscribers -1"},
		{[]string{"pub", "--endpoint", "tcp://127.0.0.1:0", "--recovery", "epgm://127.0.0.1;239.192.1.1:5555"}, "answers on tcp:// or ipc://"},
		{[]string{"pub", "--endpoint", "tcp://127.0.0.1:0", "--recovery", "tcp://127.0.0.1:0", "--retention", "0s"}, "a duration from 1ns to 24h"},
		{[]string{"pub", "--endpoint", "tcp://127.0.0.1:0", "--recovery", "tcp://127.0.0.1:0", "--retention", "lots"}, "want a duration"},
		{[]string{"pub", "--endpoint", "tcp://127.0.0.1:0", "--recovery", "tcp://127.0.0.1:0", "--retention", "2TiB"}, "a size from 1B to 1TiB"},
		{[]string{"recovery", "--from", "tcp://127.0.0.1:6001"}, "--listen are needed"},
		{[]string{"sub", "--endpoint", "tcp://127.0.0.1:6001", "--snapshot"}, "--snapshot needs --recovery"},
		{[]string{"sub", "--endpoint", "tcp://127.0.0.1:6001", "--recovery", "epgm://127.0.0.1;239.192.1.1:5555"}, "answers on tcp:// or ipc://"},
		{[]string{"sub", "--endpoint", "tcp://127.0.0.1:6001", "--recovery", "tcp://127.0.0.1:6002", "--recovery-timeout", "0s"}, "--recovery-timeout 0s"},
		{[]string{"sub", "--endpoint", "inproc://feed"}, "inproc:// joins sockets within one process"},
		{[]string{"relay", "--from", "tcp://127.0.0.1:6001", "--to", ">inproc://feed"}, `--to ">inproc://feed": inproc://`},
		{[]string{"pub", "--endpoint", "@tcp://127.0.0.1:6001", "--endpoint", "epgm://127.0.0.1;239.192.1.1:5555", "--endpoint", "@epgm://127.0.0.1;239.192.1.1:5556"}, "neither binds nor connects"},
		{[]string{"pub", "--endpoint", "tcp://127.0.0.1:0", "--metrics", "localhost"}, "--metrics \"localhost\": want HOST:PORT"},
		{[]string{"sub", "--endpoint", "tcp://127.0.0.1:6001", "--status", "1ms"}, "--status 1ms"},
		{[]string{"stat"}, "--metrics is needed"},
		{[]string{"recovery", "--from", "tcp://:1", "--listen", "tcp://127.0.0.1:0"}, "no host to connect to"},
		{[]string{"pub", "--endpoint", "epgm://127.0.0.1;239.192.1.1:5555", "--subscribers", "1"}, "cannot know its receivers"},
		{[]string{"pub", "--endpoint", nosuchif}, `interface "nosuchif0"`},
		{[]string{"pub", "--endpoint", "epgm://127.0.0.1;10.0.0.1:5555"}, "not a multicast address"},
		{[]string{"pub", "--endpoint", tcp, "--endpoint", "foo://x"}, `unsupported transport "foo"`},
		// pub: numbers.
		{[]string{"pub", "--endpoint", tcp, "--rate", "NaN"}, "--rate NaN"},
		{[]string{"pub", "--endpoint", tcp, "--rate", "Inf"}, "--rate +Inf"},
		{[]string{"pub", "--endpoint", tcp, "--rate", "-1"}, "--rate -1"},
		{[]string{"pub", "--endpoint", tcp, "--rate", "1e10"}, "--rate 1e+10"},
		{[]string{"pub", "--endpoint", tcp, "--rate", "1e-9"}, "--rate 1e-09"},
		{[]string{"pub", "--endpoint", tcp, "--rate", "1e400"}, `invalid value "1e400" for flag --rate`},
		{[]string{"pub", "--endpoint", tcp, "--symbols", "0"}, "--symbols 0"},
		{[]string{"pub", "--endpoint", tcp, "--symbols", "-3"}, "--symbols -3"},
		{[]string{"pub", "--endpoint", tcp, "--symbols", "200000000"}, "--symbols 200000000"},
		{[]string{"pub", "--endpoint", tcp, "--count", "-1"}, "--count -1"},
		{[]string{"pub", "--endpoint", tcp, "--count", "abc"}, `invalid value "abc" for flag --count`},
		{[]string{"pub", "--endpoint"}, "flag needs an argument: --endpoint"},
		{[]string{"pub", "--endpoint", tcp, "--duration", "-1s"}, "--duration -1s"},
		{[]string{"pub", "--endpoint", tcp, "--delay", "-1s"}, "--delay -1s"},
		{[]string{"pub", "--endpoint", tcp, "--batch", "0"}, "--batch 0"},
		{[]string{"pub", "--endpoint", tcp, "--batch", "65537"}, "--batch 65537"},
		{[]string{"pub", "--endpoint", tcp, "--flush-delay", "-1ms"}, "--flush-delay -1ms"},
		{[]string{"pub", "--endpoint", tcp, "--flush-delay", "2s"}, "--flush-delay 2s"},
		{[]string{"pub", "--endpoint", tcp, "--heartbeat", "0"}, "--heartbeat 0s"},
		{[]string{"pub", "--endpoint", tcp, "--heartbeat", "500us"}, "--heartbeat 500µs"},
		{[]string{"pub", "--endpoint", tcp, "--heartbeat", "-1s"}, "--heartbeat -1s"},
		{[]string{"pub", "--endpoint", tcp, "--heartbeat", "2h"}, "--heartbeat 2h0m0s"},
		{[]string{"pub", "--endpoint", tcp, "--hwm", "-5"}, "--hwm -5"},
		{[]string{"pub", "--endpoint", tcp, "--hwm", "3000000000"}, "--hwm 3000000000"},
		{[]string{"pub", "--endpoint", tcp, "--pgm-rate", "-5"}, "--pgm-rate -5"},
		{[]string{"pub", "--endpoint", tcp, "--pgm-rate", "0"}, "--pgm-rate 0"},
		{[]string{"pub", "--endpoint", tcp, "--pgm-rate", "10000000000000000"}, "--pgm-rate 10000000000000000"},
		{[]string{"pub", "--endpoint", tcp, "--pgm-recovery", "0"}, "--pgm-recovery 0s"},
		{[]string{"pub", "--endpoint", tcp, "--pgm-recovery", "-1s"}, "--pgm-recovery -1s"},
		{[]string{"pub", "--endpoint", tcp, "--pgm-recovery", "2m"}, "--pgm-recovery 2m0s"},
		{[]string{"pub", "--endpoint", tcp, "--pgm-nak", "1ms,10ms,10ms"}, "flag provided but not defined: --pgm-nak"},
		{[]string{"pub", "--endpoint", tcp, "--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"pub", "--endpoint", tcp, "--log-format", "xml"}, `--log-format "xml": text or json`},
		{[]string{"pub", "--endpoint", tcp, "--cpuprofile", filepath.Join(file, "cpu.prof")}, "--cpuprofile"},
		{[]string{"pub", "--endpoint", tcp, "extra"}, `unexpected argument "extra"`},

		// sub.
		{[]string{"sub"}, "at least one --endpoint"},
		{[]string{"sub", "--endpoint", "foo://x"}, `unsupported transport "foo"`},
		{[]string{"sub", "--endpoint", "tcp://127.0.0.1"}, "no port"},
		{[]string{"sub", "--endpoint", "tcp://127.0.0.1:99999"}, `port "99999"`},
		{[]string{"sub", "--endpoint", "tcp://127.0.0.1:0"}, `port "0"`},
		{[]string{"sub", "--endpoint", "tcp://*:6001"}, "no host to connect to"},
		{[]string{"sub", "--endpoint", nosuchif}, `interface "nosuchif0"`},
		{[]string{"sub", "--endpoint", src, "--endpoint", "tcp://127.0.0.1"}, "no port"},
		{[]string{"sub", "--endpoint", src, "--count", "-1"}, "--count -1"},
		{[]string{"sub", "--endpoint", src, "--timeout", "-1s"}, "--timeout -1s"},
		{[]string{"sub", "--endpoint", src, "--stale", "-1s"}, "--stale -1s"},
		{[]string{"sub", "--endpoint", src, "--arbitration", "-1ms"}, "--arbitration -1ms"},
		{[]string{"sub", "--endpoint", src, "--pgm-rate", "-5"}, "--pgm-rate -5"},
		{[]string{"sub", "--endpoint", src, "--pgm-rate", "10000000000000000"}, "--pgm-rate 10000000000000000"},
		{[]string{"sub", "--endpoint", src, "--pgm-recovery", "-1ms"}, "--pgm-recovery -1ms"},
		{[]string{"sub", "--endpoint", src, "--pgm-nak", "1ms,x"}, `--pgm-nak "1ms,x"`},
		{[]string{"sub", "--endpoint", src, "--pgm-nak", "-1ms"}, `--pgm-nak "-1ms"`},
		{[]string{"sub", "--endpoint", src, "--pgm-nak", "2m"}, `--pgm-nak "2m"`},
		{[]string{"sub", "--endpoint", src, "--pgm-nak", "1ms,1ms,1ms,1ms"}, `--pgm-nak "1ms,1ms,1ms,1ms"`},
		{[]string{"sub", "--endpoint", src, "--nope"}, "flag provided but not defined: --nope"},
		{[]string{"sub", "--endpoint", src, "-nope"}, "flag provided but not defined: --nope"},
		{[]string{"sub", "--endpoint", src, "--log-format", "JSON"}, `--log-format "JSON"`},

		// relay.
		{[]string{"relay", "--from", src}, "--from and at least one --to"},
		{[]string{"relay", "--from", "foo://x", "--to", tcp}, `--from: endpoint: bad endpoint "foo://x"`},
		{[]string{"relay", "--from", "tcp://127.0.0.1", "--to", tcp}, "--from: endpoint: bad endpoint"},
		{[]string{"relay", "--from", "tcp://127.0.0.1:99999", "--to", tcp}, `port "99999"`},
		{[]string{"relay", "--from", nosuchif, "--to", tcp}, `interface "nosuchif0"`},
		{[]string{"relay", "--from", src, "--to", "foo://x"}, `--to: endpoint: bad endpoint "foo://x"`},
		{[]string{"relay", "--from", src, "--to", "tcp://127.0.0.1"}, "no port"},
		{[]string{"relay", "--from", src, "--to", "tcp://:99999"}, `port "99999"`},
		{[]string{"relay", "--from", src, "--to", tcp, "--to", nosuchif}, `interface "nosuchif0"`},
		{[]string{"relay", "--from", src, "--to", tcp, "--drop", "NaN"}, "--drop NaN"},
		{[]string{"relay", "--from", src, "--to", tcp, "--drop", "-0.1"}, "--drop -0.1"},
		{[]string{"relay", "--from", src, "--to", tcp, "--drop", "2"}, "--drop 2"},
		{[]string{"relay", "--from", src, "--to", tcp, "--duration", "-1s"}, "--duration -1s"},
		{[]string{"relay", "--from", src, "--to", tcp, "--pgm-rate", "-5"}, "--pgm-rate -5"},
		{[]string{"relay", "--from", src, "--to", tcp, "--pgm-recovery", "2m"}, "--pgm-recovery 2m0s"},
		{[]string{"relay", "--from", src, "--to", tcp, "--pgm-nak", "1ms,x"}, `--pgm-nak "1ms,x"`},
		{[]string{"relay", "--from", src, "--to", tcp, "--log-format", "xml"}, `--log-format "xml"`},
		{[]string{"relay", "--from", src, "--to", tcp, "--json=maybe"}, `invalid boolean value "maybe" for --json`},
		{[]string{"recovery", "--from", src, "--listen", tcp, "--log-format", "xml"}, `--log-format "xml"`},

		// demo.
		{[]string{"demo", "--transport", "udp"}, `--transport "udp"`},
		{[]string{"demo", "--rate", "NaN"}, "--rate NaN"},
		{[]string{"demo", "--rate", "0"}, "--rate 0"},
		{[]string{"demo", "--rate", "Inf"}, "--rate +Inf"},
		{[]string{"demo", "--symbols", "1"}, "--symbols 1"},
		{[]string{"demo", "--symbols", "2000000"}, "--symbols 2000000"},
		{[]string{"demo", "--drop", "NaN"}, "--drop NaN"},
		{[]string{"demo", "--drop", "1.5"}, "--drop 1.5"},
		{[]string{"demo", "--duration", "0"}, "--duration 0s"},
		{[]string{"demo", "--duration", "-1s"}, "--duration -1s"},
		{[]string{"demo", "--pgm-nak", "1ms"}, "flag provided but not defined: --pgm-nak"},
		{[]string{"demo", "--log-format", "xml"}, `--log-format "xml"`},

		// bench: every check comes before the first run.
		{[]string{"bench", "--out", "/proc/self"}, "--out /proc/self: cannot write into it"},
		{[]string{"bench", "--out", filepath.Join(file, "results")}, "--out: mkdir"},
		{[]string{"bench", "--replot", filepath.Join(dir, "nowhere")}, "--replot"},
		{[]string{"bench", "--scenario", "speed"}, `unknown scenario "speed"`},
		{[]string{"bench", "--impl", "zmq5"}, `unknown implementation "zmq5"`},
		{[]string{"bench", "--transport", "udp"}, `unknown transport "udp"`},
		{[]string{"bench", "--transport", "epgm", "--iface", "nosuchif0"}, `--iface "nosuchif0"`},
		{[]string{"bench", "--rates", "NaN"}, `--rates: "NaN"`},
		{[]string{"bench", "--rates", "Inf"}, `--rates: "Inf"`},
		{[]string{"bench", "--rates", "0"}, `--rates: "0"`},
		{[]string{"bench", "--rates", "-1k"}, `--rates: "-1k"`},
		{[]string{"bench", "--rates", "2000M"}, `--rates: "2000M"`},
		{[]string{"bench", "--rates", ","}, "--rates: no rate"},
		{[]string{"bench", "--batches", "0"}, "batch 0"},
		{[]string{"bench", "--batches", "70000"}, "batch 70000"},
		{[]string{"bench", "--flush-delays", "-1ms"}, `--flush-delays: "-1ms"`},
		{[]string{"bench", "--flush-delays", "5s"}, `--flush-delays: "5s"`},
		{[]string{"bench", "--drops", "NaN"}, `--drops: "NaN"`},
		{[]string{"bench", "--drops", "0"}, `--drops: "0"`},
		{[]string{"bench", "--drops", "1"}, `--drops: "1"`},
		{[]string{"bench", "--subs", "0"}, "--subs 0"},
		{[]string{"bench", "--subs", "100000"}, "--subs 100000"},
		{[]string{"bench", "--topics", "0"}, "--topics 0"},
		{[]string{"bench", "--topics", "2000000"}, "--topics 2000000"},
		{[]string{"bench", "--warmup", "-1s"}, "--warmup -1s"},
		{[]string{"bench", "--duration", "0"}, "--duration 0s"},
		{[]string{"bench", "--hwm", "-1"}, "--hwm -1"},
		{[]string{"bench", "--pgm-rate", "-5"}, "--pgm-rate -5"},
		{[]string{"bench", "--pgm-rate", "10000000000000000"}, "--pgm-rate 10000000000000000"},
		{[]string{"bench", "--pgm-nak", "x"}, `--pgm-nak "x"`},
		{[]string{"bench", "--tolerance", "NaN"}, "--tolerance NaN"},
		{[]string{"bench", "--tolerance", "1"}, "--tolerance 1"},
		{[]string{"bench", "--pace", "nap"}, "nap"},
		{[]string{"bench", "--cpus", "0"}, "PUB:SUB"},
		{[]string{"bench", "--log-format", "xml"}, `--log-format "xml"`},
		{[]string{"bench-child", "x"}, "spec on stdin"},
		{[]string{"help", "bogus"}, `unknown command "bogus"`},
		{[]string{"version", "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			args := tt.args
			if args[0] == "bench" && !strings.Contains(strings.Join(args, " "), "--out") {
				args = append(args, "--out", filepath.Join(dir, "bench-results"))
			}
			code, stdout, stderr := runTickcast(t, bin, dir, 10*time.Second, args...)
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			help := "Run 'tickcast --help' for usage."
			if cmd := args[0]; cmd != "bogus" && cmd != "--bogus" && cmd != "help" {
				help = fmt.Sprintf("Run 'tickcast %s --help' for usage.", cmd)
			}
			switch {
			case code != exitUsage:
				t.Errorf("exit %d, want %d", code, exitUsage)
			case stackTrace.MatchString(stderr):
				t.Errorf("a stack trace")
			case len(lines) != 2 || !strings.HasPrefix(lines[0], "tickcast") || !strings.Contains(lines[0], tt.want) || lines[1] != help:
				t.Errorf("want one line saying %q, then %q", tt.want, help)
			case stdout != "":
				t.Errorf("stdout: %q, want nothing", stdout)
			default:
				t.Log(lines[0])
				return
			}
			t.Logf("stderr:\n%s", stderr)
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "bench-results")); err == nil {
		t.Errorf("a bench with a usage error made its --out directory")
	}

	// Help and the bare command: help on stdout, exit 0; the bare command
	// is a usage error, its usage on stderr.
	if code, stdout, stderr := runTickcast(t, bin, dir, 10*time.Second); code != exitUsage || !strings.Contains(stderr, "Commands:") || stdout != "" {
		t.Errorf("tickcast alone: exit %d, want %d and the usage on stderr; stdout %q, stderr:\n%s", code, exitUsage, stdout, stderr)
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		if code, stdout, stderr := runTickcast(t, bin, dir, 10*time.Second, args...); code != exitOK || !strings.Contains(stdout, "Commands:") || stderr != "" {
			t.Errorf("tickcast %s: exit %d, want 0 and the usage on stdout; stdout %q, stderr:\n%s", args, code, stdout, stderr)
		}
	}
	for _, cmd := range []string{"pub", "sub", "relay", "recovery", "demo", "bench", "version"} {
		for _, args := range [][]string{{cmd, "--help"}, {cmd, "-h"}, {"help", cmd}} {
			code, stdout, stderr := runTickcast(t, bin, dir, 10*time.Second, args...)
			if code != exitOK || !strings.HasPrefix(stdout, "Usage: tickcast "+cmd) || stderr != "" {
				t.Errorf("tickcast %s: exit %d, stderr %q, stdout:\n%s", args, code, stderr, stdout)
			}
			receiver := cmd == "sub" || cmd == "relay" || cmd == "recovery" || cmd == "bench"
			if strings.Contains(stdout, "--pgm-nak") != receiver {
				t.Errorf("tickcast %s: --pgm-nak, a receiver's repair timers, offered by the wrong commands:\n%s", args, stdout)
			}
		}
	}

	// The version: one line on stdout. (go build records the VCS revision
	// unless -buildvcs=false, as GOFLAGS may say: not checked here.)
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, stdout, stderr := runTickcast(t, bin, dir, 10*time.Second, args...)
		if code != exitOK || !strings.HasPrefix(stdout, "tickcast ") || strings.Count(stdout, "\n") != 1 ||
			!strings.Contains(stdout, runtime.Version()) || stderr != "" {
			t.Errorf("tickcast %s: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}

	// Failures at work exit 1: an address in use is not a usage error.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	inUse := "tcp://" + ln.Addr().String()
	for _, args := range [][]string{
		{"pub", "--endpoint", inUse},
		{"pub", "--endpoint", tcp, "--endpoint", inUse},
		{"relay", "--from", src, "--to", inUse},
	} {
		code, stdout, stderr := runTickcast(t, bin, dir, 10*time.Second, args...)
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		if code != exitFailure || len(lines) != 1 || !strings.Contains(stderr, "address already in use") ||
			stackTrace.MatchString(stderr) || stdout != "" {
			t.Errorf("tickcast %q: exit %d, want %d and one line saying the address is in use; stdout %q, stderr:\n%s",
				args, code, exitFailure, stdout, stderr)
		}
	}
}
