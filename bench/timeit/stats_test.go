package main

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestQuantile(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		q    float64
		want float64
	}{
		{[]float64{3, 1, 2}, 0.5, 2},
		{[]float64{4, 1, 3, 2}, 0.5, 2.5},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9, 9.1},
		{[]float64{5}, 0.9, 5},
		{[]float64{10, 20}, 0, 10},
		{[]float64{10, 20}, 1, 20},
	} {
		if got := quantile(tc.xs, tc.q); !near(got, tc.want) {
			t.Errorf("quantile(%v, %v) = %v, want %v", tc.xs, tc.q, got, tc.want)
		}
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
	xs := []float64{3, 1, 2}
	median(xs)
	if !slices.Equal(xs, []float64{3, 1, 2}) {
		t.Errorf("quantile sorted its input: %v", xs)
	}
}

func runs(msList ...float64) []run {
	var out []run
	for _, m := range msList {
		out = append(out, run{Wall: time.Duration(m * float64(time.Millisecond)), MaxRSS: int64(m) * 1000})
	}
	return out
}

func TestSummarizeSkipsFailures(t *testing.T) {
	c := command{Name: "x", Argv: []string{"x", "-y"}, Runs: runs(10, 30, 20, 1000)}
	c.Runs[3].Err = errors.New("exit status 1")
	s := summarize(c)
	if s.Failures != 1 || s.Runs != 4 {
		t.Errorf("failures %d of %d, want 1 of 4", s.Failures, s.Runs)
	}
	if !near(s.MedianMS, 20) || !near(s.MinMS, 10) || !near(s.P90MS, 28) {
		t.Errorf("median %v min %v p90 %v, want 20, 10, 28", s.MedianMS, s.MinMS, s.P90MS)
	}
	if s.RSSMaxKiB != 30000 || !near(s.RSSMedKiB, 20000) {
		t.Errorf("rss max %d median %v, want 30000 and 20000", s.RSSMaxKiB, s.RSSMedKiB)
	}
	if s.Command != "x -y" || s.FirstErr != "exit status 1" {
		t.Errorf("command %q first error %q", s.Command, s.FirstErr)
	}
}

func TestPairedRatio(t *testing.T) {
	// Round 3 is slow for both commands (noise); the paired ratio ignores
	// it, the ratio of medians does not need to.
	num := command{Name: "a", Runs: runs(30, 32, 300, 34)}
	den := command{Name: "b", Runs: runs(100, 100, 1000, 100)}
	r := pairedRatio(num, den)
	if !near(r.OfMedians, 33.0/100) {
		t.Errorf("ratio of medians %v, want 0.33", r.OfMedians)
	}
	if !near(r.Paired, 0.31) {
		t.Errorf("paired ratio %v, want 0.31", r.Paired)
	}
	num.Runs[0].Err = errors.New("failed")
	if r := pairedRatio(num, den); !near(r.Paired, 0.32) {
		t.Errorf("paired ratio without round 0 %v, want 0.32", r.Paired)
	}
}

func TestParseSpec(t *testing.T) {
	name, argv, err := parseSpec(`tanp=ss -tan 'state established' "a b"\ c`, false)
	if err != nil || name != "tanp" || !slices.Equal(argv, []string{"ss", "-tan", "state established", "a b c"}) {
		t.Errorf("parseSpec = %q %q %v", name, argv, err)
	}
	name, argv, err = parseSpec(`n=ss -tan | wc -l`, true)
	if err != nil || name != "n" || !slices.Equal(argv, []string{"/bin/sh", "-c", "ss -tan | wc -l"}) {
		t.Errorf("parseSpec with shell = %q %q %v", name, argv, err)
	}
	for _, bad := range []string{"ss -tan", "=ss", "a b=ss", "x=", `x=echo 'open`, `x=echo \`} {
		if _, _, err := parseSpec(bad, false); !errors.Is(err, errUsage) {
			t.Errorf("parseSpec(%q) = %v, want errUsage", bad, err)
		}
	}
}

func TestParseRatio(t *testing.T) {
	num, den, target, err := parseRatio("once/ss-tanp<=0.3")
	if err != nil || num != "once" || den != "ss-tanp" || !near(target, 0.3) {
		t.Errorf("parseRatio = %q %q %v %v", num, den, target, err)
	}
	if _, _, target, err := parseRatio("a/b"); err != nil || target != 0 {
		t.Errorf("parseRatio(a/b) target %v err %v", target, err)
	}
	for _, bad := range []string{"ab", "a/", "/b", "a/b<=x", "a/b<=-1"} {
		if _, _, _, err := parseRatio(bad); !errors.Is(err, errUsage) {
			t.Errorf("parseRatio(%q) = %v, want errUsage", bad, err)
		}
	}
}
