package output

import (
	"bufio"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"socktop/collect"
)

// TraceWriter writes the stream of `socktop trace`: one line per state
// change, closed connection or count of lost events, as text in the
// manner of bcc's tcpstates and tcplife, or as NDJSON (one object per
// line, in the form the README documents). Lines are buffered until
// Flush. A TraceWriter is not safe for concurrent use.
type TraceWriter struct {
	w    *bufio.Writer
	json bool
	b    []byte
}

// NewTraceWriter returns a writer of the trace stream on w, NDJSON when
// json is true and text otherwise.
func NewTraceWriter(w io.Writer, json bool) *TraceWriter {
	return &TraceWriter{w: bufio.NewWriterSize(w, 32<<10), json: json, b: make([]byte, 0, 512)}
}

// traceTimeJSON is RFC 3339 with all nine digits of the nanoseconds, so
// that every object's time has the same width and sorts as text.
const traceTimeJSON = "2006-01-02T15:04:05.000000000Z07:00"

// traceTimeText is the text form's time of day, to the microsecond.
const traceTimeText = "15:04:05.000000"

// Column widths of the text form; an IPv6 address wider than its column
// pushes the rest of its line right rather than being cut.
const (
	traceAddrWidth  = 21 // 255.255.255.255:65535
	traceEventWidth = 25 // FIN_WAIT_1 -> FIN_WAIT_2
)

// Header writes the column titles of the text form; it writes nothing
// for NDJSON, whose every object names its fields.
func (t *TraceWriter) Header() error {
	if t.json {
		return nil
	}
	b := t.b[:0]
	b = appendCell(b, "TIME", len(traceTimeText))
	b = appendCell(b, "PROTO", 5)
	b = appendCell(b, "LOCAL", traceAddrWidth)
	b = appendCell(b, "REMOTE", traceAddrWidth)
	b = appendCell(b, "EVENT", traceEventWidth)
	b = append(b, "SOURCE\n"...)
	t.b = b
	_, err := t.w.Write(b)
	return err
}

// Transition writes one state change. s is the socket it happened to, or
// one made from its Key: it gives the family, and the cookie when the
// transition has none.
func (t *TraceWriter) Transition(tr *collect.Transition, s *collect.Socket) error {
	cookie := tr.Cookie
	if cookie == 0 && s.Known(collect.FieldCookie) {
		cookie = s.Cookie
	}
	b := t.b[:0]
	if t.json {
		b = appendTraceHead(b, tr.At, "transition", s.Proto, s.Family, s)
		b = appendStatesJSON(b, tr.From, tr.To)
		b = append(b, `,"source":"`...)
		b = append(b, tr.Source.String()...)
		b = append(b, '"')
		if cookie != 0 {
			b = append(b, `,"cookie":`...)
			b = strconv.AppendUint(b, cookie, 10)
		}
		b = append(b, "}\n"...)
	} else {
		b = appendTraceHeadText(b, tr.At, s.Proto, s.Family, s)
		start := len(b)
		b = appendStateText(b, tr.From)
		// A sampled change may hide the states in between: it is a jump
		// between two refreshes, not an edge of the state diagram.
		if tr.Source == collect.Kernel {
			b = append(b, " -> "...)
		} else {
			b = append(b, " ⇢ "...)
		}
		b = appendStateText(b, tr.To)
		b = pad(b, start, traceEventWidth)
		b = append(b, tr.Source.String()...)
		b = append(b, '\n')
	}
	t.b = b
	_, err := t.w.Write(b)
	return err
}

// Closed writes one connection the kernel destroyed, with its lifetime,
// the bytes each way as the kernel counts them, and the owners the
// tracker remembered, marked when they came from the kernel's events
// rather than a snapshot. What is unknown is absent from the JSON and "?" in
// the text, never 0.
func (t *TraceWriter) Closed(c *collect.ClosedConn) error {
	s := collect.Socket{Proto: c.Proto, Family: c.Family, Local: c.Local, Remote: c.Remote}
	life, lifeKnown := c.Lifetime()
	b := t.b[:0]
	if t.json {
		b = appendTraceHead(b, c.Received, "closed", c.Proto, c.Family, &s)
		b = appendStatesJSON(b, lastOtherState(c), c.State.Canonical())
		// The record comes from the kernel's destroy groups.
		b = append(b, `,"source":"kernel"`...)
		if c.Cookie != 0 {
			b = append(b, `,"cookie":`...)
			b = strconv.AppendUint(b, c.Cookie, 10)
		}
		if lifeKnown {
			b = append(b, `,"lifetime_ms":`...)
			b = strconv.AppendFloat(b, float64(life.Microseconds())/1000, 'f', 3, 64)
		}
		if c.Info != nil {
			b = append(b, `,"bytes_acked":`...)
			b = strconv.AppendUint(b, c.Info.BytesAcked, 10)
			b = append(b, `,"bytes_received":`...)
			b = strconv.AppendUint(b, c.Info.BytesReceived, 10)
			b = append(b, `,"retrans":`...)
			b = strconv.AppendUint(b, uint64(c.Info.TotalRetrans), 10)
			b = append(b, `,"rtt_us":`...)
			b = strconv.AppendInt(b, c.Info.RTT.Microseconds(), 10)
		}
		if c.OwnersKnown || c.OwnersFromEvents {
			b = append(b, `,"owners":[`...)
			for i, o := range c.Owners {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"pid":`...)
				b = strconv.AppendInt(b, int64(o.PID), 10)
				b = append(b, `,"name":`...)
				b = appendJSONString(b, o.Name)
				b = append(b, '}')
			}
			b = append(b, ']')
			if c.OwnersFromEvents {
				b = append(b, `,"owners_from":"events"`...)
			}
		}
		b = append(b, "}\n"...)
	} else {
		b = appendTraceHeadText(b, c.Received, c.Proto, c.Family, &s)
		start := len(b)
		b = append(b, "closed"...)
		b = pad(b, start, traceEventWidth)
		b = append(b, "kernel  lifetime "...)
		if lifeKnown {
			b = strconv.AppendFloat(b, float64(life.Microseconds())/1000, 'f', 3, 64)
			b = append(b, " ms"...)
		} else {
			b = append(b, '?')
		}
		b = append(b, ", tx "...)
		if c.Info != nil {
			b = strconv.AppendUint(b, c.Info.BytesAcked, 10)
		} else {
			b = append(b, '?')
		}
		b = append(b, ", rx "...)
		if c.Info != nil {
			b = strconv.AppendUint(b, c.Info.BytesReceived, 10)
		} else {
			b = append(b, '?')
		}
		b = append(b, ", owners "...)
		switch {
		case !c.OwnersKnown && !c.OwnersFromEvents:
			b = append(b, '?')
		case len(c.Owners) == 0:
			b = append(b, '-')
		default:
			for i, o := range c.Owners {
				if i > 0 {
					b = append(b, ',')
				}
				b = AppendOwner(b, o)
			}
			if c.OwnersFromEvents {
				b = append(b, " (from events)"...)
			}
		}
		b = append(b, '\n')
	}
	t.b = b
	_, err := t.w.Write(b)
	return err
}

// Lost writes how many kernel events or destroy records were lost since
// the previous line of the kind: the transitions around it may miss
// steps, and closed connections may be missing.
func (t *TraceWriter) Lost(at time.Time, n uint64) error {
	b := t.b[:0]
	if t.json {
		b = append(b, `{"time":"`...)
		b = at.AppendFormat(b, traceTimeJSON)
		b = append(b, `","event":"lost","count":`...)
		b = strconv.AppendUint(b, n, 10)
		b = append(b, "}\n"...)
	} else {
		b = appendCell(b, at.Format(traceTimeText), len(traceTimeText))
		b = append(b, "lost "...)
		b = strconv.AppendUint(b, n, 10)
		b = append(b, " kernel events or closed records: the lines around may miss steps\n"...)
	}
	t.b = b
	_, err := t.w.Write(b)
	return err
}

// Flush writes out the buffered lines.
func (t *TraceWriter) Flush() error { return t.w.Flush() }

// lastOtherState returns the last state of c's path other than the one
// it was destroyed in: the state it left to be closed, when the tracker
// knew it.
func lastOtherState(c *collect.ClosedConn) collect.State {
	final := c.State.Canonical()
	for i := len(c.Path) - 1; i >= 0; i-- {
		if st := c.Path[i].State.Canonical(); st != final && st != collect.StateUnknown {
			return st
		}
	}
	return collect.StateUnknown
}

// appendTraceHead opens a JSON object with the fields every event has.
func appendTraceHead(b []byte, at time.Time, event string, proto collect.Proto, family uint8, s *collect.Socket) []byte {
	b = append(b, `{"time":"`...)
	b = at.AppendFormat(b, traceTimeJSON)
	b = append(b, `","event":"`...)
	b = append(b, event...)
	b = append(b, `","proto":"`...)
	b = append(b, proto.String()...)
	b = append(b, `","family":`...)
	b = strconv.AppendUint(b, uint64(family), 10)
	b = append(b, `,"local":`...)
	b = appendEndpointJSON(b, s.Local, family)
	b = append(b, `,"remote":`...)
	return appendEndpointJSON(b, s.Remote, family)
}

// appendStatesJSON appends "from" and "to", each only when known: a
// sampled connection that appeared has no earlier state, one that went
// away has no later one.
func appendStatesJSON(b []byte, from, to collect.State) []byte {
	if from != collect.StateUnknown {
		b = append(b, `,"from":"`...)
		b = append(b, from.Canonical().String()...)
		b = append(b, '"')
	}
	if to != collect.StateUnknown {
		b = append(b, `,"to":"`...)
		b = append(b, to.Canonical().String()...)
		b = append(b, '"')
	}
	return b
}

// appendTraceHeadText appends the time, protocol and both ends of a text
// line, each in its column.
func appendTraceHeadText(b []byte, at time.Time, proto collect.Proto, family uint8, s *collect.Socket) []byte {
	start := len(b)
	b = at.AppendFormat(b, traceTimeText)
	b = pad(b, start, len(traceTimeText))
	start = len(b)
	b = append(b, proto.String()...)
	if family == 6 {
		b = append(b, '6')
	}
	b = pad(b, start, 5)
	start = len(b)
	b = AppendAddr(b, s.Local, family)
	b = pad(b, start, traceAddrWidth)
	start = len(b)
	b = AppendAddr(b, s.Remote, family)
	return pad(b, start, traceAddrWidth)
}

// appendStateText appends a state, or "-" where there is none (before a
// connection appeared, after it went away).
func appendStateText(b []byte, st collect.State) []byte {
	if st == collect.StateUnknown {
		return append(b, '-')
	}
	return append(b, st.Canonical().String()...)
}

// appendCell appends text padded to width, then the two spaces between
// columns.
func appendCell(b []byte, text string, width int) []byte {
	start := len(b)
	b = append(b, text...)
	return pad(b, start, width)
}

// pad pads what was appended since start to width runes' worth of
// bytes, then adds the two spaces between columns. The text is ASCII but
// for the sampled arrow, which counts as one column.
func pad(b []byte, start, width int) []byte {
	for n := utf8.RuneCount(b[start:]); n < width; n++ {
		b = append(b, ' ')
	}
	return append(b, ' ', ' ')
}
