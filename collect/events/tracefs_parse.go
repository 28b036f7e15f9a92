package events

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"socktop/collect"
)

// traceEvent is the tracepoint's name as trace_pipe prints it, between
// the line's header and the event's fields.
const traceEvent = "inet_sock_set_state: "

// errNotTCP marks a well-formed event of another protocol (SCTP, MPTCP),
// which the instance's filter normally keeps out; it is skipped, not
// counted as malformed.
var errNotTCP = errors.New("not a TCP event")

// tcpStates are the tracepoint's spellings of the kernel's TCP states
// (its __print_symbolic table).
var tcpStates = map[string]collect.State{
	"TCP_ESTABLISHED":    collect.StateEstablished,
	"TCP_SYN_SENT":       collect.StateSynSent,
	"TCP_SYN_RECV":       collect.StateSynRecv,
	"TCP_FIN_WAIT1":      collect.StateFinWait1,
	"TCP_FIN_WAIT2":      collect.StateFinWait2,
	"TCP_TIME_WAIT":      collect.StateTimeWait,
	"TCP_CLOSE":          collect.StateClosed,
	"TCP_CLOSE_WAIT":     collect.StateCloseWait,
	"TCP_LAST_ACK":       collect.StateLastAck,
	"TCP_LISTEN":         collect.StateListen,
	"TCP_CLOSING":        collect.StateClosing,
	"TCP_NEW_SYN_RECV":   collect.StateNewSynRecv,
	"TCP_BOUND_INACTIVE": collect.StateBoundInactive,
}

// parseTraceLines parses the complete lines at the start of b, the text
// of a trace_pipe, appending each TCP event to evs with its time from at
// (the trace clock's nanoseconds) and its command name interned in
// names. It returns the events, the bytes of a
// last line not yet ended by a newline, how many lines were malformed,
// and the first malformed line's error. Lost-event markers (CPU:N [LOST M
// EVENTS]) are skipped: the instance's stats count those events.
func parseTraceLines(b []byte, at func(ns int64) time.Time, names *commNames, evs []collect.StateEvent) (out []collect.StateEvent, rest []byte, bad int, firstErr error) {
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return evs, b, bad, firstErr
		}
		line := b[:i]
		b = b[i+1:]
		if skipTraceLine(line) {
			continue
		}
		ev, ns, err := parseTraceLine(line, names)
		switch {
		case errors.Is(err, errNotTCP):
		case err != nil:
			bad++
			if firstErr == nil {
				firstErr = err
			}
		default:
			ev.Time = at(ns)
			evs = append(evs, ev)
		}
	}
}

// skipTraceLine reports whether a line carries no event: blank, a
// comment of the trace file's header, or a lost-events marker.
func skipTraceLine(line []byte) bool {
	line = bytes.TrimSpace(line)
	return len(line) == 0 || line[0] == '#' ||
		(bytes.HasPrefix(line, []byte("CPU:")) && bytes.HasSuffix(line, []byte("EVENTS]")))
}

// parseTraceLine parses one inet_sock_set_state line of trace_pipe:
//
//	comm-TID (TGID) [CPU] FLAGS SECONDS.MICROS: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=N dport=N saddr=A daddr=A saddrv6=A daddrv6=A oldstate=TCP_X newstate=TCP_Y
//
// It returns the event without its Time, and the timestamp in
// nanoseconds of the trace clock. The command name may hold spaces and
// dashes, so the header is read from its end: its last field is the
// timestamp. The task's fields are best effort: a malformed or missing
// one leaves PID or Comm unknown and the event stands. Fields after the known ones are ignored, so a kernel that
// adds one still parses.
func parseTraceLine(line []byte, names *commNames) (collect.StateEvent, int64, error) {
	var ev collect.StateEvent
	i := bytes.Index(line, []byte(traceEvent))
	if i < 0 {
		return ev, 0, fmt.Errorf("tracefs line without %q: %q", traceEvent, clip(line))
	}
	head := bytes.TrimSuffix(bytes.TrimRight(line[:i], " "), []byte(":"))
	stamp := head
	if j := bytes.LastIndexAny(head, " \t"); j >= 0 {
		stamp, head = head[j+1:], head[:j]
	} else {
		head = nil
	}
	ns, err := parseTraceTime(stamp)
	if err != nil {
		return ev, 0, fmt.Errorf("tracefs line %q: %w", clip(line), err)
	}
	ev.PID, ev.Comm = parseTraceTask(head, names)
	// The fields are kept as text and only the family's addresses are
	// parsed: the other pair is the IPv4 or IPv6 shadow of the socket.
	var family, proto, sport, dport, saddr, daddr, saddr6, daddr6, from, to []byte
	for rest := line[i+len(traceEvent):]; len(rest) > 0; {
		var f []byte
		f, rest, _ = bytes.Cut(rest, []byte(" "))
		k, v, ok := bytes.Cut(f, []byte("="))
		if !ok {
			continue
		}
		switch string(k) {
		case "family":
			family = v
		case "protocol":
			proto = v
		case "sport":
			sport = v
		case "dport":
			dport = v
		case "saddr":
			saddr = v
		case "daddr":
			daddr = v
		case "saddrv6":
			saddr6 = v
		case "daddrv6":
			daddr6 = v
		case "oldstate":
			from = v
		case "newstate":
			to = v
		}
	}
	fail := func(format string, args ...any) (collect.StateEvent, int64, error) {
		return ev, 0, fmt.Errorf("tracefs line %q: %s", clip(line), fmt.Sprintf(format, args...))
	}
	switch string(proto) {
	case "IPPROTO_TCP":
		ev.Proto = collect.TCP
	case "":
		return fail("no protocol")
	default:
		return ev, 0, errNotTCP
	}
	switch string(family) {
	case "AF_INET":
		ev.Family = 4
	case "AF_INET6":
		// An IPv6 socket's addresses are the v6 ones, a v4-mapped
		// address kept in its 16-byte form as the socket's dump row has
		// it; its saddr and daddr are whatever its IPv4 fields hold.
		ev.Family = 6
		saddr, daddr = saddr6, daddr6
	default:
		return fail("unknown family %q", family)
	}
	src, err1 := parseTraceAddr(saddr, ev.Family)
	dst, err2 := parseTraceAddr(daddr, ev.Family)
	if err := errors.Join(err1, err2); err != nil {
		return fail("addresses: %v", err)
	}
	sp, ok1 := parsePort(sport)
	dp, ok2 := parsePort(dport)
	if !ok1 || !ok2 {
		return fail("ports %q and %q are not two port numbers", sport, dport)
	}
	if ev.From, err = parseTraceState(from); err != nil {
		return fail("oldstate: %v", err)
	}
	if ev.To, err = parseTraceState(to); err != nil {
		return fail("newstate: %v", err)
	}
	ev.Local = netip.AddrPortFrom(src, sp)
	ev.Remote = netip.AddrPortFrom(dst, dp)
	return ev, ns, nil
}

// parseTraceTask reads the task of a trace line's header without its
// timestamp: "comm-TID (TGID) [CPU] FLAGS", the TGID column printed
// with the instance's record-tgid option. The PID is the TGID, the
// process; 0 without the column or when the trace did not know it
// ("-------"): the TID names a thread, which is no process id. Comm is
// "" when the trace kept no name ("<...>").
func parseTraceTask(head []byte, names *commNames) (uint32, string) {
	// FLAGS, then [CPU].
	head = bytes.TrimRight(head, " \t")
	if j := bytes.LastIndexAny(head, " \t"); j >= 0 {
		head = bytes.TrimRight(head[:j], " \t")
	} else {
		return 0, ""
	}
	if j := bytes.LastIndexByte(head, '['); j >= 0 && bytes.HasSuffix(head, []byte("]")) {
		head = bytes.TrimRight(head[:j], " \t")
	} else {
		return 0, ""
	}
	var pid uint32
	if bytes.HasSuffix(head, []byte(")")) {
		if j := bytes.LastIndexByte(head, '('); j >= 0 {
			if n, ok := parseDecimal(bytes.TrimSpace(head[j+1 : len(head)-1])); ok && n > 0 && n <= 1<<22 {
				pid = uint32(n)
			}
			head = bytes.TrimRight(head[:j], " \t")
		}
	}
	head = bytes.TrimLeft(head, " \t")
	j := bytes.LastIndexByte(head, '-')
	if j < 0 {
		return pid, ""
	}
	comm := names.name(head[:j])
	if (pid == 0 || comm == "") && names != nil && names.tgid != nil {
		// The trace did not know the thread's process or name (a thread
		// it had not seen scheduled yet, or more tasks than it keeps
		// names of, common on a loaded host): the reader asks the kernel.
		if tid, ok := parseDecimal(head[j+1:]); ok && tid > 0 && tid <= 1<<22 {
			p, name := names.tgid(uint32(tid))
			if pid == 0 {
				pid = p
			}
			if comm == "" {
				comm = name
			}
		}
	}
	return pid, comm
}

// parseTraceAddr reads an address of the given family (4 or 6).
func parseTraceAddr(b []byte, family uint8) (netip.Addr, error) {
	if len(b) == 0 {
		return netip.Addr{}, fmt.Errorf("no IPv%d address", family)
	}
	var a netip.Addr
	if err := a.UnmarshalText(b); err != nil {
		return a, err
	}
	if (family == 4) != a.Is4() {
		return a, fmt.Errorf("%s is not an IPv%d address", a, family)
	}
	return a, nil
}

// parsePort reads a decimal port number.
func parsePort(b []byte) (uint16, bool) {
	n, ok := parseDecimal(b)
	return uint16(n), ok && n <= 0xffff
}

// parseDecimal reads up to 18 decimal digits, without allocating.
func parseDecimal(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// parseTraceState reads a state as the tracepoint prints it: its
// symbolic name, or a hex number for a state the kernel's table lacks.
// The state is canonical (NEW_SYN_RECV is SYN_RECV).
func parseTraceState(v []byte) (collect.State, error) {
	if s, ok := tcpStates[string(v)]; ok {
		return s.Canonical(), nil
	}
	if h, ok := bytes.CutPrefix(v, []byte("0x")); ok {
		n, err := strconv.ParseUint(string(h), 16, 8)
		if err == nil && n > 0 && n < collect.NumStates {
			return collect.State(n).Canonical(), nil
		}
	}
	return 0, fmt.Errorf("unknown TCP state %q", v)
}

// parseTraceTime reads a trace timestamp, seconds and a fraction of up to
// nine digits (the mono clock prints microseconds), in nanoseconds.
func parseTraceTime(b []byte) (int64, error) {
	sec, frac, ok := bytes.Cut(b, []byte("."))
	if !ok || len(sec) == 0 || len(frac) == 0 || len(frac) > 9 {
		return 0, fmt.Errorf("timestamp %q is not seconds.fraction", b)
	}
	s, ok := parseDecimal(sec)
	if !ok || s > 1<<33 {
		return 0, fmt.Errorf("timestamp %q: bad seconds", b)
	}
	f, ok := parseDecimal(frac)
	if !ok {
		return 0, fmt.Errorf("timestamp %q: bad fraction", b)
	}
	for range 9 - len(frac) {
		f *= 10
	}
	return int64(s)*1e9 + int64(f), nil
}

// clip shortens a line quoted in an error.
func clip(b []byte) []byte {
	const n = 200
	if len(b) > n {
		return b[:n]
	}
	return b
}

// parseTraceStats sums the loss counters of a per_cpu stats file.
func parseTraceStats(b []byte) uint64 {
	var sum uint64
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "overrun", "commit overrun", "dropped events":
			if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
				sum += n
			}
		}
	}
	return sum
}
