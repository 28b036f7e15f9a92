//go:build linux

package collect

import (
	"time"
	"unsafe"
)

// timedRow is a row a patch asks the kernel for by its timer rather than
// by an event: a TCP row in TIME_WAIT (or with the timewait timer),
// whose end no event announces, or a request socket. left is its
// TimerLeft as of the table's Taken.
type timedRow struct {
	i    int32
	syn  bool // a request socket: asked for at every patch
	left time.Duration
}

// timedRows is the list of a table's timed rows, made in a pass that
// reads every row anyway (the walk's tagging, the patch's copy): the
// next patch of that table reads the list instead of every row of it,
// which at 100k rows is the difference between 100k rows of 208 bytes
// and the few thousand of TIME_WAIT (docs/performance.md, "What a
// patch read that it did not need"). of, n and taken say which table it is of: a patch of any
// other reads the rows.
type timedRows struct {
	rows  []timedRow
	of    *Socket
	n     int
	taken time.Time
}

// note adds row i of a table being built when it is timed.
func (t *timedRows) note(s *Socket, i int) {
	if s.Proto != TCP {
		return
	}
	switch {
	case s.State == StateTimeWait || s.Timer == TimerTimeWait:
		t.rows = append(t.rows, timedRow{i: int32(i), left: s.TimerLeft})
	case s.State == StateNewSynRecv:
		t.rows = append(t.rows, timedRow{i: int32(i), syn: true})
	}
}

// start empties the list for a table about to be built.
func (t *timedRows) start() {
	t.rows, t.of, t.n = t.rows[:0], nil, 0
}

// done says the list is of socks, taken at taken. A list far larger than
// its table's needs (after a burst of TIME_WAIT) is let go.
func (t *timedRows) done(socks []Socket, taken time.Time) {
	t.of, t.n, t.taken = unsafe.SliceData(socks), len(socks), taken
	if cap(t.rows) > 4096 && cap(t.rows) > 4*len(t.rows) {
		t.rows = append([]timedRow(nil), t.rows...)
	}
}

// forTable reports the list of prev's timed rows, when it is the table the
// list was made for.
func (t *timedRows) forTable(prev *Snapshot) ([]timedRow, bool) {
	if t.of == nil || len(prev.Sockets) != t.n || unsafe.SliceData(prev.Sockets) != t.of || !prev.Taken.Equal(t.taken) {
		return nil, false
	}
	return t.rows, true
}

// noteAll makes the list of socks, taken at taken, in a pass of its own.
func (t *timedRows) noteAll(socks []Socket, taken time.Time) {
	t.start()
	for i := range socks {
		t.note(&socks[i], i)
	}
	t.done(socks, taken)
}

// countRow counts s into c as count counts a table.
func countRow(c *SockCounters, s *Socket) {
	switch s.Proto {
	case TCP:
		switch {
		case s.State == StateTimeWait || s.Timer == TimerTimeWait:
			// A mini-socket: TIME_WAIT, or an orphan's FIN_WAIT_2 the
			// kernel moved into one (dumped in FIN_WAIT_2, with the
			// timewait timer).
			c.TCPTimeWait++
		case s.State == StateNewSynRecv || s.State == StateClosed || s.State == StateBoundInactive:
		default:
			if s.Family == 4 {
				c.TCPInUse++
			} else {
				c.TCP6InUse++
			}
		}
	case UDP:
		if s.Family == 4 {
			c.UDPInUse++
		} else {
			c.UDP6InUse++
		}
	}
}
