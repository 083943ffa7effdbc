package bench

import (
	"fmt"
	"math"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Status is a run's verdict.
type Status string

// Statuses.
const (
	StatusOK   Status = "ok"
	StatusFail Status = "FAIL"
	StatusSkip Status = "SKIP"
)

// Result is what one run measured, and its verdict.
type Result struct {
	RunSpec
	Status  Status      `json:"status"`
	Reasons []string    `json:"reasons,omitempty"` // why it FAILed or was skipped
	Notes   []string    `json:"notes,omitempty"`   // what a reader should know, that does not fail it
	Pub     PubResult   `json:"publisher"`
	Subs    []SubResult `json:"subscribers"`
	// All aggregates the subscribers: latencies merged, counts summed,
	// rates summed (TicksPerSec, BytesPerSec) or the slowest (Rate).
	All   SubResult         `json:"aggregate"`
	Files map[string]string `json:"files,omitempty"` // what → file name in the output directory
	// Histograms are the run's full distributions, HdrHistogram's
	// compressed V2 encoding in base64 (readable by its Java, C and Go
	// libraries): results.json alone can redraw every table and plot.
	Histograms *EncodedHistograms `json:"histograms,omitempty"`

	latency    *hdrhistogram.Histogram   // merged over subscribers
	subLatency []*hdrhistogram.Histogram // per subscriber
	lateness   *hdrhistogram.Histogram   // the publisher's pacer
}

// EncodedHistograms are a run's histograms, encoded.
type EncodedHistograms struct {
	Latency     string   `json:"latency"`     // all subscribers merged
	Subscribers []string `json:"subscribers"` // one per subscriber, in order
	Pacer       string   `json:"pacer,omitempty"`
}

// encodeHistograms fills r.Histograms from the run's histograms.
func (r *Result) encodeHistograms() error {
	if r.latency == nil {
		return nil
	}
	var e EncodedHistograms
	var err error
	if e.Latency, err = encodeHistogram(r.latency); err != nil {
		return err
	}
	for _, h := range r.subLatency {
		s, err := encodeHistogram(h)
		if err != nil {
			return err
		}
		e.Subscribers = append(e.Subscribers, s)
	}
	if r.lateness != nil {
		if e.Pacer, err = encodeHistogram(r.lateness); err != nil {
			return err
		}
	}
	r.Histograms = &e
	return nil
}

// decodeHistograms restores the run's histograms from r.Histograms.
func (r *Result) decodeHistograms() error {
	e := r.Histograms
	if e == nil {
		return nil
	}
	var err error
	if r.latency, err = decodeHistogram(e.Latency); err != nil {
		return fmt.Errorf("bench: %s: %w", r.ID, err)
	}
	r.subLatency = nil
	for _, s := range e.Subscribers {
		h, err := decodeHistogram(s)
		if err != nil {
			return fmt.Errorf("bench: %s: %w", r.ID, err)
		}
		r.subLatency = append(r.subLatency, h)
	}
	if e.Pacer != "" {
		if r.lateness, err = decodeHistogram(e.Pacer); err != nil {
			return fmt.Errorf("bench: %s: %w", r.ID, err)
		}
	}
	return nil
}

// PubResult is the publisher's side of a run.
type PubResult struct {
	Sent       int64  `json:"sent"` // measured ticks
	WarmupSent int64  `json:"warmup_sent"`
	Messages   uint64 `json:"messages"` // whole run, warm-up included
	Bytes      uint64 `json:"bytes"`
	Dropped    uint64 `json:"dropped"`  // message copies the transport dropped for slow subscribers
	Rejected   uint64 `json:"rejected"` // ticks refused by a full publisher queue (retried)
	// Seconds is the measured phase: the first measured tick's intended
	// time to the last one's hand-over.
	Seconds float64 `json:"seconds"`
	// Rate is the achieved send rate over the measured phase, ticks/s.
	Rate float64 `json:"rate"`
	// Lateness: when each measured tick was handed over, minus its
	// intended time (paced runs). The pacer's own error, apart from the
	// transport's.
	Lateness Percentiles `json:"lateness_ns"`
	Proc     ProcStats   `json:"proc"`
}

// SubResult is one subscriber's side of a run (or their aggregate).
type SubResult struct {
	Name     string `json:"name"`
	Received int64  `json:"received"` // measured ticks
	Lost     int64  `json:"lost"`     // measured ticks sent and not received
	// tickcast's own gap reports (its subscriber detects loss exactly).
	Gaps         uint64 `json:"gaps"`
	Missing      uint64 `json:"missing"`
	Duplicates   uint64 `json:"duplicates"`
	DecodeErrors uint64 `json:"decode_errors"`
	Messages     uint64 `json:"messages"` // measured phase
	Bytes        uint64 `json:"bytes"`
	// Seconds: first to last measured tick received.
	Seconds     float64 `json:"seconds"`
	TicksPerSec float64 `json:"ticks_per_s"`
	BytesPerSec float64 `json:"bytes_per_s"`
	// Rate (paced runs): ticks delivered per second of the schedule, from
	// the first measured tick's intended time to the last one's receipt.
	Rate      float64     `json:"rate,omitempty"`
	Latency   Percentiles `json:"latency_ns"`
	ClockSkew int64       `json:"clock_skew,omitempty"` // ticks received before their intended time
	Ended     bool        `json:"ended"`                // saw the end of the run
	Proc      ProcStats   `json:"proc"`
}

// Rules: the validity of a run. A run is FAIL when
//
//   - a process failed, or nothing was sent;
//   - (paced) the publisher's achieved rate is more than the tolerance
//     below the target: the load was not what the label says;
//   - (paced) a subscriber's delivered rate is more than the tolerance
//     below the target: it fell behind and the run ended before it caught
//     up;
//   - a subscriber lost a measured tick (received fewer than were sent),
//     or tickcast reported a gap, or a subscriber received more than was
//     sent.
//
// Failed runs keep their numbers (they say how it failed), but every
// output marks them, and no ratio is computed from them silently.
func judge(r *Result, tolerance float64) {
	fail := func(format string, args ...any) {
		r.Status = StatusFail
		r.Reasons = append(r.Reasons, fmt.Sprintf(format, args...))
	}
	if r.Status == StatusSkip {
		return
	}
	if r.Pub.Sent == 0 {
		fail("the publisher sent no measured tick")
	}
	floor := r.Rate * (1 - tolerance)
	if r.Paced() && r.Pub.Sent > 0 && r.Pub.Rate < floor {
		fail("publisher missed its target: %s ticks/s of %s (%.1f%% below)",
			FormatRate(round3(r.Pub.Rate)), FormatRate(r.Rate), 100*(1-r.Pub.Rate/r.Rate))
	}
	for _, s := range r.Subs {
		switch {
		case s.Received == 0 && r.Pub.Sent > 0:
			fail("%s received no measured tick", s.Name)
		case s.Lost > 0:
			fail("%s lost %d of %d ticks (%.3g%%)", s.Name, s.Lost, r.Pub.Sent, 100*float64(s.Lost)/float64(r.Pub.Sent))
		case s.Lost < 0:
			fail("%s received %d ticks more than were sent", s.Name, -s.Lost)
		}
		if s.Gaps > 0 && s.Lost <= 0 {
			fail("%s reported %d gaps (%d ticks missing)", s.Name, s.Gaps, s.Missing)
		}
		if r.Paced() && s.Received > 0 && s.Rate < floor {
			fail("%s fell behind: delivered %s ticks/s of %s", s.Name, FormatRate(round3(s.Rate)), FormatRate(r.Rate))
		}
		if s.ClockSkew > 0 {
			r.Notes = append(r.Notes, fmt.Sprintf("%s: %d ticks arrived before their intended time (clock skew), counted as 1ns", s.Name, s.ClockSkew))
		}
	}
	if r.Status == "" {
		r.Status = StatusOK
	}
}

// round3 rounds to three significant digits, for messages.
func round3(x float64) float64 {
	if x == 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(math.Abs(x)))-2)
	return math.Round(x/p) * p
}

// Failed reports whether any run failed.
func (rep *Report) Failed() bool {
	for _, r := range rep.Results {
		if r.Status == StatusFail {
			return true
		}
	}
	return false
}
