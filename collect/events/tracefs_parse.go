package events

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
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
// (the trace clock's nanoseconds). It returns the events, the bytes of a
// last line not yet ended by a newline, how many lines were malformed,
// and the first malformed line's error. Lost-event markers (CPU:N [LOST M
// EVENTS]) are skipped: the instance's stats count those events.
func parseTraceLines(b []byte, at func(ns int64) time.Time, evs []collect.StateEvent) (out []collect.StateEvent, rest []byte, bad int, firstErr error) {
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
		ev, ns, err := parseTraceLine(line)
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
//	comm-PID [CPU] FLAGS SECONDS.MICROS: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=N dport=N saddr=A daddr=A saddrv6=A daddrv6=A oldstate=TCP_X newstate=TCP_Y
//
// It returns the event without its Time, and the timestamp in
// nanoseconds of the trace clock. The command name may hold spaces and
// dashes, so the header is read from its end: its last field is the
// timestamp. Fields after the known ones are ignored, so a kernel that
// adds one still parses.
func parseTraceLine(line []byte) (collect.StateEvent, int64, error) {
	var ev collect.StateEvent
	i := bytes.Index(line, []byte(traceEvent))
	if i < 0 {
		return ev, 0, fmt.Errorf("tracefs line without %q: %q", traceEvent, clip(line))
	}
	head := bytes.TrimSuffix(bytes.TrimRight(line[:i], " "), []byte(":"))
	if j := bytes.LastIndexAny(head, " \t"); j >= 0 {
		head = head[j+1:]
	}
	ns, err := parseTraceTime(head)
	if err != nil {
		return ev, 0, fmt.Errorf("tracefs line %q: %w", clip(line), err)
	}
	var (
		family, proto    string
		sport, dport     = -1, -1
		saddr, daddr     netip.Addr
		saddr6, daddr6   netip.Addr
		haveFrom, haveTo bool
		have4s, have4d   bool
		have6s, have6d   bool
		fieldErr         error
		fail             = func(e error) { fieldErr = firstOf(fieldErr, e) }
		parseAddr        = func(k string, v []byte, dst *netip.Addr, ok *bool) {
			a, e := netip.ParseAddr(string(v))
			if e != nil {
				fail(fmt.Errorf("%s: %w", k, e))
				return
			}
			*dst, *ok = a, true
		}
	)
	for _, f := range bytes.Fields(line[i+len(traceEvent):]) {
		k, v, ok := bytes.Cut(f, []byte("="))
		if !ok {
			continue
		}
		switch string(k) {
		case "family":
			family = string(v)
		case "protocol":
			proto = string(v)
		case "sport", "dport":
			n, e := strconv.ParseUint(string(v), 10, 16)
			if e != nil {
				fail(fmt.Errorf("%s: %w", k, e))
			} else if k[0] == 's' {
				sport = int(n)
			} else {
				dport = int(n)
			}
		case "saddr":
			parseAddr("saddr", v, &saddr, &have4s)
		case "daddr":
			parseAddr("daddr", v, &daddr, &have4d)
		case "saddrv6":
			parseAddr("saddrv6", v, &saddr6, &have6s)
		case "daddrv6":
			parseAddr("daddrv6", v, &daddr6, &have6d)
		case "oldstate":
			st, e := parseTraceState(v)
			ev.From, haveFrom = st, e == nil
			fail(e)
		case "newstate":
			st, e := parseTraceState(v)
			ev.To, haveTo = st, e == nil
			fail(e)
		}
	}
	if fieldErr != nil {
		return ev, 0, fmt.Errorf("tracefs line %q: %w", clip(line), fieldErr)
	}
	if proto != "IPPROTO_TCP" {
		if proto == "" {
			return ev, 0, fmt.Errorf("tracefs line %q: no protocol", clip(line))
		}
		return ev, 0, errNotTCP
	}
	ev.Proto = collect.TCP
	var missing string
	switch family {
	case "AF_INET":
		ev.Family = 4
		if !have4s || !have4d || !saddr.Is4() || !daddr.Is4() {
			missing = "IPv4 saddr and daddr"
		}
	case "AF_INET6":
		// An IPv6 socket's saddr and daddr are whatever its IPv4 fields
		// hold; its addresses are the v6 ones, a v4-mapped address kept
		// in its 16-byte form as the socket's dump row has it.
		ev.Family = 6
		saddr, daddr = saddr6, daddr6
		if !have6s || !have6d || !saddr.Is6() || !daddr.Is6() {
			missing = "IPv6 saddrv6 and daddrv6"
		}
	default:
		return ev, 0, fmt.Errorf("tracefs line %q: unknown family %q", clip(line), family)
	}
	switch {
	case missing != "":
	case sport < 0 || dport < 0:
		missing = "sport and dport"
	case !haveFrom || !haveTo:
		missing = "oldstate and newstate"
	}
	if missing != "" {
		return ev, 0, fmt.Errorf("tracefs line %q: no %s", clip(line), missing)
	}
	ev.Local = netip.AddrPortFrom(saddr, uint16(sport))
	ev.Remote = netip.AddrPortFrom(daddr, uint16(dport))
	return ev, ns, nil
}

// firstOf keeps the first error.
func firstOf(first, next error) error {
	if first != nil {
		return first
	}
	return next
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
	s, err := strconv.ParseUint(string(sec), 10, 63)
	if err != nil || s > 1<<33 {
		return 0, fmt.Errorf("timestamp %q: bad seconds", b)
	}
	f, err := strconv.ParseUint(string(frac), 10, 32)
	if err != nil {
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
