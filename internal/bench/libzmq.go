package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	_ "embed"
)

// peerSource is the libzmq C peer: the same runs as tickcast's, driven
// through Debian's libzmq, compiled by the harness with gcc.
//
//go:embed libzmqpeer/peer.c
var peerSource []byte

// errSkip marks a reason to skip runs rather than fail them: something the
// machine lacks, said so that a person can fix it.
type errSkip struct{ reason string }

func (e *errSkip) Error() string { return e.reason }

func skipf(format string, args ...any) error { return &errSkip{fmt.Sprintf(format, args...)} }

const zmqHeader = "/usr/include/zmq.h"

// buildPeer compiles the libzmq C peer into cacheDir, once per version of
// its source, and returns its path and libzmq's version. It installs
// libzmq3-dev with apt-get when it is missing and this process is root;
// otherwise it returns an errSkip that says what to install.
func buildPeer(ctx context.Context, cacheDir string, logger *slog.Logger) (path, version string, err error) {
	sum := sha256.Sum256(peerSource)
	path = filepath.Join(cacheDir, "libzmq-peer-"+hex.EncodeToString(sum[:6]))
	if _, err := os.Stat(path); err != nil {
		if err := compilePeer(ctx, path, logger); err != nil {
			return "", "", err
		}
	}
	out, err := exec.CommandContext(ctx, path, "version").Output()
	if err != nil {
		return "", "", skipf("the libzmq peer %s does not run (%v): libzmq5 missing?", path, err)
	}
	return path, strings.TrimSpace(string(out)), nil
}

func compilePeer(ctx context.Context, path string, logger *slog.Logger) error {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return skipf("libzmq runs skipped: gcc is not installed (apt-get install gcc libzmq3-dev)")
	}
	if _, err := os.Stat(zmqHeader); err != nil {
		if err := installLibzmqDev(ctx, logger); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("bench: libzmq peer cache: %w", err)
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), "build-")
	if err != nil {
		return fmt.Errorf("bench: libzmq peer cache: %w", err)
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "peer.c")
	if err := os.WriteFile(src, peerSource, 0o644); err != nil {
		return fmt.Errorf("bench: libzmq peer: %w", err)
	}
	bin := filepath.Join(dir, "peer")
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, gcc, "-O2", "-o", bin, src, "-lzmq").CombinedOutput()
	if err != nil {
		return skipf("libzmq runs skipped: compiling the C peer failed: %v: %s", err, bytes.TrimSpace(out))
	}
	logger.Info("bench: compiled the libzmq peer", "path", path)
	// Rename last: a concurrent build never sees a half-written binary.
	if err := os.Rename(bin, path); err != nil {
		return fmt.Errorf("bench: libzmq peer: %w", err)
	}
	return nil
}

// installLibzmqDev installs Debian's libzmq3-dev, as root only.
func installLibzmqDev(ctx context.Context, logger *slog.Logger) error {
	aptGet, err := exec.LookPath("apt-get")
	if os.Geteuid() != 0 || err != nil {
		return skipf("libzmq runs skipped: libzmq3-dev is not installed (%s missing); as root: apt-get install libzmq3-dev", zmqHeader)
	}
	logger.Warn("bench: installing libzmq3-dev with apt-get for the libzmq peer")
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	install := func() ([]byte, error) {
		cmd := exec.CommandContext(ctx, aptGet, "install", "-y", "-qq", "--no-install-recommends", "libzmq3-dev")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	out, err := install()
	if err != nil {
		// The package lists may be missing or stale: update once, retry.
		if uout, uerr := exec.CommandContext(ctx, aptGet, "update", "-qq").CombinedOutput(); uerr != nil {
			return skipf("libzmq runs skipped: apt-get update failed: %v: %s", uerr, bytes.TrimSpace(uout))
		}
		out, err = install()
	}
	if err != nil {
		return skipf("libzmq runs skipped: apt-get install libzmq3-dev failed: %v: %s", err, bytes.TrimSpace(out))
	}
	if _, err := os.Stat(zmqHeader); err != nil {
		return skipf("libzmq runs skipped: libzmq3-dev installed but %s is missing", zmqHeader)
	}
	return nil
}

// peerArgs are the C peer's arguments for one process of a run.
func peerArgs(spec *childSpec, samplesFile string) []string {
	a := []string{spec.Role, "--endpoint", spec.Endpoint, "--deadline-ns", fmt.Sprint(spec.Deadline)}
	if len(spec.CPUs) > 0 {
		a = append(a, "--cpus", cpuList(spec.CPUs))
	}
	if spec.PGMRate > 0 {
		a = append(a, "--pgm-rate", fmt.Sprint(spec.PGMRate))
	}
	if spec.Role == "pub" {
		hwm := spec.HWM
		if hwm == 0 {
			hwm = 10_000 // tickcast's default, for a like-for-like drop point
		}
		a = append(a, "--rate", fmt.Sprint(spec.Rate), "--warmup-ticks", fmt.Sprint(spec.WarmupTicks),
			"--ticks", fmt.Sprint(spec.Ticks), "--warmup-ns", fmt.Sprint(int64(spec.Warmup)),
			"--duration-ns", fmt.Sprint(int64(spec.Duration)), "--size", fmt.Sprint(spec.PayloadSize),
			"--batch", fmt.Sprint(max(spec.Batch, 1)), "--subs", fmt.Sprint(spec.Subscribers),
			"--hwm", fmt.Sprint(hwm), "--pace", string(spec.Pace), "--lateness-file", samplesFile)
	} else {
		samples := spec.Ticks + 16
		if spec.Rate == 0 {
			samples = 0 // a throughput run reports no latency
		}
		a = append(a, "--latency-file", samplesFile, "--max-samples", fmt.Sprint(samples))
	}
	return a
}
