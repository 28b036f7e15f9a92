//go:build linux

// Command bpfstat measures what socktop's tracepoint program costs in
// the kernel, where it runs on the CPU of whoever changes a socket's
// state: it turns the kernel's BPF run-time statistics on for -duration
// and prints, for each loaded program named socktop_state, how many
// times it ran and its mean run time. The statistics are off again when
// it exits (they cost every program a clock read per run meanwhile).
// It needs root (CAP_SYS_ADMIN).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

func main() {
	dur := flag.Duration("duration", 20*time.Second, "how long to count")
	name := flag.String("name", "socktop_state", "the program's name")
	flag.Parse()
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bpfstat: enabling BPF statistics:", err)
		os.Exit(1)
	}
	defer stats.Close()
	before := sample(*name)
	time.Sleep(*dur)
	after := sample(*name)
	for id, a := range after {
		b := before[id]
		runs := a.runs - b.runs
		ns := a.ns - b.ns
		mean := 0.0
		if runs > 0 {
			mean = float64(ns) / float64(runs)
		}
		fmt.Printf("prog=%d runs=%d runs_per_s=%.0f ns_per_run=%.0f cpu_share=%.4f%%\n",
			id, runs, float64(runs)/dur.Seconds(), mean, 100*float64(ns)/float64(dur.Nanoseconds()))
	}
	if len(after) == 0 {
		fmt.Fprintf(os.Stderr, "bpfstat: no program named %s is loaded\n", *name)
		os.Exit(1)
	}
}

type counts struct{ runs, ns uint64 }

// sample reads the run counts of the programs named name.
func sample(name string) map[ebpf.ProgramID]counts {
	out := map[ebpf.ProgramID]counts{}
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			return out
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bpfstat:", err)
			os.Exit(1)
		}
		id = next
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		info, err := p.Info()
		if err != nil || info.Name != name {
			p.Close()
			continue
		}
		st, err := p.Stats()
		p.Close()
		if err != nil {
			continue
		}
		out[id] = counts{st.RunCount, uint64(st.Runtime)}
	}
}
