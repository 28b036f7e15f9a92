package output

import (
	"bufio"
	"fmt"
	"io"

	"socktop/collect"
)

// summaryStates is the order of the summary's state rows: the course
// notes' walk through the diagram, then UDP's.
var summaryStates = []collect.State{
	collect.StateListen, collect.StateSynSent, collect.StateSynRecv, collect.StateEstablished,
	collect.StateFinWait1, collect.StateFinWait2, collect.StateCloseWait, collect.StateClosing,
	collect.StateLastAck, collect.StateTimeWait, collect.StateClosed, collect.StateUnconn,
}

// WriteSummary prints `socktop -s`: the count of the snapshot's sockets
// per protocol and family, then per state and protocol. Unlike ss -s,
// which reads the kernel's totals, it counts the sockets the flags and
// the filter selected, so it can answer "how many TIME_WAIT on :443".
// Unix sockets (-x) get one line of their own and no state rows.
func WriteSummary(w io.Writer, snap *collect.Snapshot) error {
	var byFam [3][2]int // [tcp, udp, total][IPv4, IPv6]
	var byState [collect.NumStates][2]int
	var unixCount int
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		if s.Proto == collect.Unix {
			unixCount++
			continue
		}
		p, f := 0, 0
		if s.Proto == collect.UDP {
			p = 1
		}
		if s.Family == 6 {
			f = 1
		}
		byFam[p][f]++
		byFam[2][f]++
		byState[s.State.Canonical()][p]++
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "Total: %d\n\n", len(snap.Sockets))
	fmt.Fprintf(bw, "%-12s %8s %8s %8s\n", "Transport", "Total", "IPv4", "IPv6")
	for i, name := range []string{"TCP", "UDP", "INET"} {
		fmt.Fprintf(bw, "%-12s %8d %8d %8d\n", name, byFam[i][0]+byFam[i][1], byFam[i][0], byFam[i][1])
	}
	if unixCount > 0 {
		fmt.Fprintf(bw, "%-12s %8d\n", "UNIX", unixCount)
	}
	fmt.Fprintf(bw, "\n%-12s %8s %8s\n", "State", "TCP", "UDP")
	for _, st := range summaryStates {
		if c := byState[st]; c[0]+c[1] > 0 {
			fmt.Fprintf(bw, "%-12s %8d %8d\n", st, c[0], c[1])
		}
	}
	return bw.Flush()
}
