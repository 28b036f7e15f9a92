package collect

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Counter is one kernel counter; Known is false when the kernel does
// not have it (an older kernel lacks TCPReqQFullDoCookies, say), which
// is unknown, not 0.
type Counter struct {
	Value uint64
	Known bool
}

// ListenCounters are the host's (or one network namespace's) listen
// queue counters, from the TcpExt lines of /proc/net/netstat. They
// count since the namespace was created.
type ListenCounters struct {
	// ListenOverflows counts handshakes dropped because an accept queue
	// was full: a SYN, or the final ACK that would have made a child.
	ListenOverflows Counter
	// ListenDrops counts every SYN or final ACK a listener dropped, the
	// overflows included.
	ListenDrops Counter
	// ReqQFullDrop counts SYNs dropped because the SYN queue was full
	// and syncookies were off.
	ReqQFullDrop Counter
	// ReqQFullDoCookies counts SYNs answered with a syncookie because
	// the SYN queue was full.
	ReqQFullDoCookies Counter
}

// ErrNoTcpExt means a netstat file had no TcpExt section.
var ErrNoTcpExt = errors.New("no TcpExt lines")

// ParseNetstat reads the format of /proc/net/netstat: for each section
// a line of names and a line of values, both starting "Section:". Only
// the TcpExt section is read; a counter missing from it is left unknown.
// A section whose two lines disagree in length, or a value that is not a
// number, is an error.
func ParseNetstat(r io.Reader) (ListenCounters, error) {
	var c ListenCounters
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 8<<10), 1<<20)
	var names [][]byte
	var namesLine []byte
	seen := false
	line := 0
	for sc.Scan() {
		line++
		text := sc.Bytes()
		prefix, rest, ok := bytes.Cut(text, []byte(":"))
		if !ok {
			if len(bytes.TrimSpace(text)) == 0 {
				continue
			}
			return c, fmt.Errorf("netstat line %d: no section name: %q", line, text)
		}
		if string(prefix) != "TcpExt" {
			continue
		}
		if names == nil {
			namesLine = append(namesLine[:0], rest...)
			names = bytes.Fields(namesLine)
			if names == nil {
				names = [][]byte{}
			}
			continue
		}
		values := bytes.Fields(rest)
		if len(values) != len(names) {
			return c, fmt.Errorf("netstat line %d: TcpExt has %d names and %d values", line, len(names), len(values))
		}
		for i, name := range names {
			var dst *Counter
			switch string(name) {
			case "ListenOverflows":
				dst = &c.ListenOverflows
			case "ListenDrops":
				dst = &c.ListenDrops
			case "TCPReqQFullDrop":
				dst = &c.ReqQFullDrop
			case "TCPReqQFullDoCookies":
				dst = &c.ReqQFullDoCookies
			default:
				continue
			}
			v, err := strconv.ParseUint(string(values[i]), 10, 64)
			if err != nil {
				return c, fmt.Errorf("netstat line %d: TcpExt %s: %w", line, name, err)
			}
			*dst = Counter{Value: v, Known: true}
		}
		names = nil
		seen = true
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("netstat: %w", err)
	}
	if names != nil {
		return c, fmt.Errorf("netstat: TcpExt names without values")
	}
	if !seen {
		return c, fmt.Errorf("netstat: %w", ErrNoTcpExt)
	}
	return c, nil
}

// CounterRate is a counter's change per second between two readings;
// Known is false when either reading lacked the counter or it went
// backwards (a namespace that was recreated).
type CounterRate struct {
	PerSecond float64
	Known     bool
}

// ListenRates are ListenCounters as rates between two readings.
type ListenRates struct {
	ListenOverflows, ListenDrops, ReqQFullDrop, ReqQFullDoCookies CounterRate
}

// Any reports whether some known rate is above zero.
func (r *ListenRates) Any() bool {
	for _, x := range [...]CounterRate{r.ListenOverflows, r.ListenDrops, r.ReqQFullDrop, r.ReqQFullDoCookies} {
		if x.Known && x.PerSecond > 0 {
			return true
		}
	}
	return false
}

// Rates returns the rates from prev, read at t0, to cur, read at t1.
// With no time between them every rate is unknown.
func (cur *ListenCounters) Rates(prev *ListenCounters, t0, t1 time.Time) ListenRates {
	dt := t1.Sub(t0).Seconds()
	rate := func(a, b Counter) CounterRate {
		if dt <= 0 || !a.Known || !b.Known || b.Value < a.Value {
			return CounterRate{}
		}
		return CounterRate{PerSecond: float64(b.Value-a.Value) / dt, Known: true}
	}
	return ListenRates{
		ListenOverflows:   rate(prev.ListenOverflows, cur.ListenOverflows),
		ListenDrops:       rate(prev.ListenDrops, cur.ListenDrops),
		ReqQFullDrop:      rate(prev.ReqQFullDrop, cur.ReqQFullDrop),
		ReqQFullDoCookies: rate(prev.ReqQFullDoCookies, cur.ReqQFullDoCookies),
	}
}
