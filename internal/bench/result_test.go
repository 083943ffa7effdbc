package bench

import (
	"strings"
	"testing"
)

func TestJudge(t *testing.T) {
	paced := RunSpec{Scenario: ScenarioLatency, Impl: ImplTickcast, Rate: 10_000, Subscribers: 1}
	flood := RunSpec{Scenario: ScenarioThroughput, Impl: ImplTickcast, Batch: 128, Subscribers: 1}
	okSub := SubResult{Name: "sub1", Received: 50_000, Rate: 10_000}
	tests := []struct {
		name    string
		spec    RunSpec
		pub     PubResult
		subs    []SubResult
		status  Status
		reasons []string // substrings, one per expected reason
	}{
		{"ok", paced, PubResult{Sent: 50_000, Rate: 10_000}, []SubResult{okSub}, StatusOK, nil},
		{"0.9% below the target is within 1%", paced, PubResult{Sent: 50_000, Rate: 9_910},
			[]SubResult{{Name: "sub1", Received: 50_000, Rate: 9_910}}, StatusOK, nil},
		{"publisher 2% below", paced, PubResult{Sent: 50_000, Rate: 9_800},
			[]SubResult{okSub}, StatusFail, []string{"publisher missed its target: 9.8k ticks/s of 10k"}},
		{"subscriber fell behind", paced, PubResult{Sent: 50_000, Rate: 10_000},
			[]SubResult{{Name: "sub1", Received: 50_000, Rate: 8_000}}, StatusFail, []string{"sub1 fell behind"}},
		{"loss", paced, PubResult{Sent: 50_000, Rate: 10_000},
			[]SubResult{{Name: "sub1", Received: 49_990, Lost: 10, Rate: 10_000}}, StatusFail, []string{"sub1 lost 10 of 50000 ticks"}},
		{"a gap tickcast reported", paced, PubResult{Sent: 50_000, Rate: 10_000},
			[]SubResult{{Name: "sub1", Received: 50_000, Gaps: 1, Missing: 3, Rate: 10_000}}, StatusFail, []string{"reported 1 gaps"}},
		{"more received than sent", paced, PubResult{Sent: 50_000, Rate: 10_000},
			[]SubResult{{Name: "sub1", Received: 50_001, Lost: -1, Rate: 10_000}}, StatusFail, []string{"1 ticks more than were sent"}},
		{"nothing received", paced, PubResult{Sent: 50_000, Rate: 10_000},
			[]SubResult{{Name: "sub1", Lost: 50_000}}, StatusFail, []string{"sub1 received no measured tick"}},
		{"nothing sent", paced, PubResult{}, []SubResult{{Name: "sub1"}}, StatusFail,
			[]string{"sent no measured tick"}},
		{"one of four subscribers lost", paced, PubResult{Sent: 100, Rate: 10_000},
			[]SubResult{{Name: "sub1", Received: 100, Rate: 10_000}, {Name: "sub2", Received: 99, Lost: 1, Rate: 10_000}},
			StatusFail, []string{"sub2 lost 1 of 100"}},
		{"throughput has no target", flood, PubResult{Sent: 1_000_000, Rate: 3e6},
			[]SubResult{{Name: "sub1", Received: 1_000_000, TicksPerSec: 2e6}}, StatusOK, nil},
		{"throughput with loss", flood, PubResult{Sent: 1_000_000, Rate: 3e6},
			[]SubResult{{Name: "sub1", Received: 900_000, Lost: 100_000}}, StatusFail, []string{"lost 100000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Result{RunSpec: tt.spec, Pub: tt.pub, Subs: tt.subs}
			judge(r, 0.01)
			if r.Status != tt.status || len(r.Reasons) != len(tt.reasons) {
				t.Fatalf("status %s, reasons %q; want %s with %d reasons", r.Status, r.Reasons, tt.status, len(tt.reasons))
			}
			for i, want := range tt.reasons {
				if !strings.Contains(r.Reasons[i], want) {
					t.Errorf("reason %q, want it to say %q", r.Reasons[i], want)
				}
			}
		})
	}
}

func TestJudgeKeepsSkipAndNotesSkew(t *testing.T) {
	r := &Result{RunSpec: RunSpec{Rate: 1000}, Status: StatusSkip, Reasons: []string{"no libzmq"}}
	judge(r, 0.01)
	if r.Status != StatusSkip || len(r.Reasons) != 1 {
		t.Fatalf("a skipped run became %s %q", r.Status, r.Reasons)
	}
	r = &Result{RunSpec: RunSpec{Rate: 1000}, Pub: PubResult{Sent: 10, Rate: 1000},
		Subs: []SubResult{{Name: "sub1", Received: 10, Rate: 1000, ClockSkew: 2}}}
	judge(r, 0.01)
	if r.Status != StatusOK || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "clock skew") {
		t.Fatalf("status %s notes %q: skew is a note, not a failure", r.Status, r.Notes)
	}
}
