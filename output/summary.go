package output

import (
	"bufio"
	"fmt"
	"io"
	"strconv"

	"socktop/collect"
)

// summaryStates is the order of the summary's state rows: the course
// notes' walk through the diagram, then UDP's.
var summaryStates = []collect.State{
	collect.StateListen, collect.StateSynSent, collect.StateSynRecv, collect.StateEstablished,
	collect.StateFinWait1, collect.StateFinWait2, collect.StateCloseWait, collect.StateClosing,
	collect.StateLastAck, collect.StateTimeWait, collect.StateClosed, collect.StateUnconn,
}

// WriteSummary prints `socktop -s`: in ss -s's layout, the total, a TCP
// line with ss's estab (ESTABLISHED and CLOSE_WAIT, as the MIB's
// CurrEstab that ss reads counts them), orphaned and timewait figures,
// the count per protocol and family, then the count per state and
// protocol. Unlike ss -s, which reads the kernel's totals, it counts the
// sockets the flags and the filter selected, so it can answer "how many
// TIME_WAIT on :443"; and so it has no "closed" figure (sockets the
// kernel holds but no longer lists), and its TCP row counts TIME_WAIT,
// which ss's leaves out. An orphan is a TCP socket that has left
// ESTABLISHED with no descriptor left; "?" when the source cannot tell
// inodes. Unix sockets (-x) get one line of their own and no state rows.
func WriteSummary(w io.Writer, snap *collect.Snapshot) error {
	var byFam [3][2]int // [tcp, udp, total][IPv4, IPv6]
	var byState [collect.NumStates][2]int
	var unixCount, orphans int
	orphansKnown := true
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		if s.Proto == collect.Unix {
			unixCount++
			continue
		}
		if s.Proto == collect.TCP && orphanState(s.State) {
			switch {
			case !s.Known(collect.FieldInode):
				orphansKnown = false
			case s.Inode == 0:
				orphans++
			}
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
	fmt.Fprintf(bw, "Total: %d\n", len(snap.Sockets))
	tcp := byState[collect.StateEstablished][0] + byState[collect.StateCloseWait][0]
	orphaned := "?"
	if orphansKnown {
		orphaned = strconv.Itoa(orphans)
	}
	fmt.Fprintf(bw, "TCP:   %d (estab %d, orphaned %s, timewait %d)\n\n",
		byFam[0][0]+byFam[0][1], tcp, orphaned, byState[collect.StateTimeWait][0])
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

// orphanState says whether a TCP socket in state s is an orphan when no
// descriptor refers to it: the states after close() that the kernel
// keeps a full socket for. TIME_WAIT and SYN_RECV sockets never have
// one, and are not orphans.
func orphanState(s collect.State) bool {
	switch s {
	case collect.StateFinWait1, collect.StateFinWait2, collect.StateClosing, collect.StateLastAck:
		return true
	}
	return false
}
