// Command timeit compares the wall time and peak memory of commands. It
// runs them in turn for a number of rounds, so that noise on a shared
// machine falls on all of them alike, reads each run's rusage from wait4
// (ru_maxrss is the peak resident set) and prints medians, the 90th
// percentile and ratios, as a markdown table and optionally as JSON.
//
//	timeit -rounds 15 -baseline ss ss='ss -tan' socktop='socktop --once --no-owners'
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

type ratioFlags []string

func (r *ratioFlags) String() string     { return strings.Join(*r, ",") }
func (r *ratioFlags) Set(s string) error { *r = append(*r, s); return nil }

// report is what -json writes: how the commands were measured, one
// summary per command, and the ratios.
type report struct {
	// Taken is when the last run ended, in UTC.
	Taken time.Time `json:"taken"`
	settings
	Commands []summary `json:"commands"`
	// Ratios compares each command with the baseline, then the -ratio
	// pairs not among those.
	Ratios []ratio `json:"ratios"`
	// LoadBefore and LoadAfter are /proc/loadavg around the runs (empty
	// where there is no such file): a shared machine's noise on record.
	LoadBefore string `json:"loadavg_before,omitempty"`
	LoadAfter  string `json:"loadavg_after,omitempty"`
}

// settings are the flags that shape a measurement, written into the
// report's top level.
type settings struct {
	// Rounds is how many measured runs each command had, after Warmup
	// rounds that were not measured.
	Rounds int `json:"rounds"`
	Warmup int `json:"warmup"`
	// Baseline names the command that each summary's ratio_vs_baseline
	// divides by; empty when -baseline was not given.
	Baseline string `json:"baseline,omitempty"`
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func main() {
	rounds := flag.Int("rounds", 10, "measured rounds; each round runs every command once")
	warmup := flag.Int("warmup", 1, "rounds run first and not measured")
	baseline := flag.String("baseline", "", "NAME of the command the others are compared with")
	jsonOut := flag.String("json", "", "write the results as JSON to this file (- for stdout)")
	shell := flag.Bool("shell", false, "run each COMMAND with /bin/sh -c instead of splitting it into words")
	timeout := flag.Duration("timeout", 2*time.Minute, "kill a run that takes longer")
	var ratios ratioFlags
	flag.Var(&ratios, "ratio", "NUM/DEN or NUM/DEN<=TARGET: also report the ratio of these two commands, and whether the ratio of medians meets the target (repeatable)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: timeit [flags] NAME=COMMAND...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := mainErr(flag.Args(), *rounds, *warmup, *baseline, *jsonOut, *shell, *timeout, ratios); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func mainErr(specs []string, rounds, warmup int, baseline, jsonOut string, shell bool, timeout time.Duration, ratioSpecs []string) error {
	if len(specs) == 0 {
		return fmt.Errorf("%w: no NAME=COMMAND given", errUsage)
	}
	if rounds < 1 || warmup < 0 {
		return fmt.Errorf("%w: -rounds must be at least 1 and -warmup not negative", errUsage)
	}
	var cmds []command
	index := map[string]int{}
	for _, s := range specs {
		name, argv, err := parseSpec(s, shell)
		if err != nil {
			return err
		}
		if _, dup := index[name]; dup {
			return fmt.Errorf("%w: NAME %q given twice", errUsage, name)
		}
		index[name] = len(cmds)
		cmds = append(cmds, command{Name: name, Argv: argv})
	}
	type pair struct {
		num, den int
		target   float64
	}
	var pairs []pair
	for _, r := range ratioSpecs {
		a, b, target, err := parseRatio(r)
		if err != nil {
			return err
		}
		i, okA := index[a]
		j, okB := index[b]
		if !okA || !okB {
			return fmt.Errorf("%w: -ratio %q: %s and %s must both be NAMEs given", errUsage, r, a, b)
		}
		pairs = append(pairs, pair{i, j, target})
	}
	base := -1
	if baseline != "" {
		i, ok := index[baseline]
		if !ok {
			return fmt.Errorf("%w: -baseline %q is not one of the NAMEs", errUsage, baseline)
		}
		base = i
	}

	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("timeit: %w", err)
	}
	defer devnull.Close()
	loadBefore := loadavg()
	for round := range warmup + rounds {
		// Start each round with a different command, so that no command
		// always runs right after the same one.
		for k := range cmds {
			i := (k + round) % len(cmds)
			r := runOnce(cmds[i].Argv, devnull, timeout)
			if round >= warmup {
				cmds[i].Runs = append(cmds[i].Runs, r)
			}
		}
	}

	rep := report{Taken: time.Now().UTC(), settings: settings{Rounds: rounds, Warmup: warmup, Baseline: baseline},
		LoadBefore: loadBefore, LoadAfter: loadavg()}
	for _, c := range cmds {
		rep.Commands = append(rep.Commands, summarize(c))
	}
	if base >= 0 {
		for i := range cmds {
			rep.Commands[i].VsBase = rep.Commands[i].MedianMS / rep.Commands[base].MedianMS
			if i != base {
				rep.Ratios = append(rep.Ratios, pairedRatio(cmds[i], cmds[base]))
			}
		}
	}
	for _, p := range pairs {
		r := pairedRatio(cmds[p.num], cmds[p.den])
		if p.target > 0 {
			met := r.OfMedians <= p.target
			r.Target, r.Met = p.target, &met
		}
		if i := slices.IndexFunc(rep.Ratios, func(x ratio) bool { return x.Num == r.Num && x.Den == r.Den }); i >= 0 {
			rep.Ratios[i] = r // already there against the baseline: add the target
			continue
		}
		rep.Ratios = append(rep.Ratios, r)
	}
	writeTable(os.Stdout, rep)
	if jsonOut != "" {
		b, err := json.MarshalIndent(sanitize(rep), "", "  ")
		if err != nil {
			return fmt.Errorf("timeit: %w", err)
		}
		b = append(b, '\n')
		if jsonOut == "-" {
			_, err = os.Stdout.Write(b)
		} else {
			err = os.WriteFile(jsonOut, b, 0o644)
		}
		if err != nil {
			return fmt.Errorf("timeit: write JSON: %w", err)
		}
	}
	for _, s := range rep.Commands {
		if s.Failures == s.Runs {
			return fmt.Errorf("timeit: every run of %s failed: %s", s.Name, s.FirstErr)
		}
	}
	return nil
}

// runOnce runs argv with stdout to /dev/null and returns its figures.
func runOnce(argv []string, devnull *os.File, timeout time.Duration) run {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = devnull
	var stderr bytes.Buffer
	cmd.Stderr = &limited{b: &stderr, n: 4096}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return run{Err: err}
	}
	timer := time.AfterFunc(timeout, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	wall := time.Since(start)
	timer.Stop()
	r := run{Wall: wall}
	if cmd.ProcessState != nil {
		r.CPU, r.MaxRSS = usage(cmd.ProcessState)
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		r.Err = fmt.Errorf("%s: %w", argv[0], err)
	}
	return r
}

// limited keeps the first n bytes written to it.
type limited struct {
	b *bytes.Buffer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func fmtF(x float64, prec int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, x)
}

func writeTable(w io.Writer, rep report) {
	fmt.Fprintf(w, "%d rounds (+%d warm-up), commands alternated", rep.Rounds, rep.Warmup)
	if rep.LoadBefore != "" {
		fmt.Fprintf(w, "; load average %s before, %s after", rep.LoadBefore, rep.LoadAfter)
	}
	fmt.Fprint(w, "\n\n")
	fmt.Fprintln(w, "| command | median ms | p90 ms | min ms | CPU ms | peak RSS MiB (median / max) | vs baseline | failed |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, s := range rep.Commands {
		vs := "-"
		if rep.Baseline != "" {
			if vs = fmtF(s.VsBase, 2); vs != "-" {
				vs += "x"
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s / %s | %s | %d |\n", s.Name,
			fmtF(s.MedianMS, 1), fmtF(s.P90MS, 1), fmtF(s.MinMS, 1), fmtF(s.CPUMS, 1),
			fmtF(s.RSSMedKiB/1024, 1), fmtF(float64(s.RSSMaxKiB)/1024, 1), vs, s.Failures)
	}
	if len(rep.Ratios) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| ratio | of medians | median of per-round ratios | target |")
		fmt.Fprintln(w, "|---|---:|---:|---|")
		for _, r := range rep.Ratios {
			target := "-"
			if r.Met != nil {
				target = fmt.Sprintf("<= %g: met", r.Target)
				if !*r.Met {
					target = fmt.Sprintf("<= %g: NOT met", r.Target)
				}
			}
			fmt.Fprintf(w, "| %s / %s | %s | %s | %s |\n", r.Num, r.Den, fmtF(r.OfMedians, 3), fmtF(r.Paired, 3), target)
		}
	}
	for _, s := range rep.Commands {
		if s.FirstErr != "" {
			fmt.Fprintf(w, "\n%s failed %d of %d runs, first: %s\n", s.Name, s.Failures, s.Runs, s.FirstErr)
		}
	}
}

// sanitize replaces NaN (no successful run) by 0, which JSON can carry.
func sanitize(rep report) report {
	fix := func(x *float64) {
		if math.IsNaN(*x) || math.IsInf(*x, 0) {
			*x = 0
		}
	}
	out := rep
	out.Commands = append([]summary(nil), rep.Commands...)
	out.Ratios = append([]ratio(nil), rep.Ratios...)
	for i := range out.Commands {
		c := &out.Commands[i]
		for _, x := range []*float64{&c.MedianMS, &c.P90MS, &c.MinMS, &c.CPUMS, &c.RSSMedKiB, &c.VsBase} {
			fix(x)
		}
	}
	for i := range out.Ratios {
		fix(&out.Ratios[i].OfMedians)
		fix(&out.Ratios[i].Paired)
	}
	return out
}
