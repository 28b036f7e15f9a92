//go:build unix

// Command eventcost measures the event layer alone: it opens an
// events.Stream (state changes and destroy records), drains it every
// -drain as a refresh would, and after -duration prints one line of
// key=value figures: the events and records read, the rates, what was
// lost, and its own CPU time (user and system, every goroutine, from
// getrusage) as a share of one core. bench/events.sh runs it beside a
// churn of loopback connections.
//
// The BPF program itself runs in the kernel on the CPU of whoever changes
// a socket's state, so its cost is the churning process's, not this
// one's; this process pays for reading the ring buffer (or the trace
// pipe) and the destroy groups, and for queueing.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"socktop/collect"
	"socktop/collect/events"
)

func main() {
	mode := flag.String("events", "auto", "reader: auto, bpf, tracefs or sampled")
	dur := flag.Duration("duration", 20*time.Second, "measure for `D`")
	drain := flag.Duration("drain", 100*time.Millisecond, "drain the stream every `D`")
	flag.Parse()
	m := events.Mode(*mode)
	if *mode == "auto" {
		m = ""
	}
	st, err := events.Open(events.Options{Mode: m, Closed: true})
	if err != nil {
		fmt.Fprintf(os.Stderr, "eventcost: %v\n", err)
		os.Exit(1)
	}
	defer st.Close()
	for _, n := range st.Notices() {
		fmt.Fprintf(os.Stderr, "eventcost: %s\n", n)
	}

	// The figures start after Open, so loading the program and joining
	// the groups are not counted.
	before := st.Stats()
	cpu0, wall0 := cpuTime(), time.Now()
	var evs []collect.StateEvent
	var closed []collect.Closed
	var lost, closedLost, drained uint64
	tick := time.NewTicker(*drain)
	defer tick.Stop()
	for end := wall0.Add(*dur); time.Now().Before(end); {
		<-tick.C
		var l, cl uint64
		evs, closed, l, cl = st.Drain(evs[:0], closed[:0])
		lost += l
		closedLost += cl
		drained += uint64(len(evs))
	}
	el := time.Since(wall0).Seconds()
	cpu := (cpuTime() - cpu0).Seconds()
	after := st.Stats()
	if err := st.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "eventcost: the reader stopped: %v\n", err)
	}
	fmt.Printf("mode=%s seconds=%.1f events=%d events_per_s=%.0f lost=%d closed=%d closed_per_s=%.0f closed_lost=%d drained=%d cpu_s=%.3f core_share=%.4f\n",
		st.Mode(), el, after.Events-before.Events, float64(after.Events-before.Events)/el,
		lost, after.Closed-before.Closed, float64(after.Closed-before.Closed)/el, closedLost,
		drained, cpu, cpu/el)
}

// cpuTime returns the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
