package output

import (
	"bufio"
	"io"
	"strconv"
	"time"

	"socktop/collect"
)

// ListenReport is what `socktop --once --listeners` prints: the
// snapshot's TCP listeners with their health, and the listen counters of
// one namespace.
type ListenReport struct {
	Snap *collect.Snapshot
	// Health is the health of the listeners to print; Index points into
	// Snap.Sockets.
	Health []collect.ListenerHealth
	// Counters are the listen counters since the namespace was created;
	// CountersErr says why they could not be read (then Counters is
	// zero and unknown).
	Counters    collect.ListenCounters
	CountersErr error
	// CountersOf names the namespace the counters are of.
	CountersOf string
}

// listenColumns are the socket columns of the listener table, around the
// queue columns.
var listenColumns = [...]Column{ColLocal, ColProcess}

// WriteListeners prints the listeners as a table: a mark "!" for a full
// accept queue, the local address, the accept queue as queued/backlog,
// the SYN queue and the owner, then one line of counters. A queue the
// source could not read prints as "?".
func WriteListeners(w io.Writer, r *ListenReport, header bool) error {
	many := ManyNetNS(r.Snap.Sockets)
	type cellsOf struct{ netns, local, accept, syn, proc string }
	rows := make([]cellsOf, 0, len(r.Health))
	var cells Cells
	var scratch []byte
	widths := cellsOf{}
	if header {
		widths = cellsOf{"NetNS", "Local", "Accept-Q", "SYN-Q", ""}
	}
	wn, wl, wa, ws := len(widths.netns), len(widths.local), len(widths.accept), len(widths.syn)
	for i := range r.Health {
		h := &r.Health[i]
		s := &r.Snap.Sockets[h.Index]
		var c cellsOf
		if many {
			c.netns = string(cells.Append(scratch[:0], ColNetNS, s, Plain))
		}
		c.local = string(cells.Append(scratch[:0], listenColumns[0], s, Plain))
		c.proc = string(cells.Append(scratch[:0], listenColumns[1], s, Plain))
		c.accept, c.syn = "?", "?"
		if h.QueueKnown {
			c.accept = strconv.FormatUint(uint64(h.AcceptQueue), 10) + "/" + strconv.FormatUint(uint64(h.Backlog), 10)
		}
		if h.SynKnown {
			c.syn = strconv.Itoa(h.SynQueue)
		}
		wn, wl, wa, ws = max(wn, len(c.netns)), max(wl, len(c.local)), max(wa, len(c.accept)), max(ws, len(c.syn))
		rows = append(rows, c)
	}
	bw := bufio.NewWriter(w)
	line := make([]byte, 0, 256)
	put := func(mark byte, c cellsOf) {
		line = append(line[:0], mark, ' ')
		if many {
			line = appendPadded(line, []byte(c.netns), wn, false, false)
		}
		line = appendPadded(line, []byte(c.local), wl, false, false)
		line = appendPadded(line, []byte(c.accept), wa, true, false)
		line = appendPadded(line, []byte(c.syn), ws, true, false)
		line = appendPadded(line, []byte(c.proc), 0, false, true)
		bw.Write(append(line, '\n'))
	}
	if header {
		put(' ', cellsOf{"NetNS", "Local", "Accept-Q", "SYN-Q", "Process"})
	}
	for i, c := range rows {
		mark := byte(' ')
		if r.Health[i].Full() {
			mark = '!'
		}
		put(mark, c)
	}
	b := line[:0]
	if r.CountersErr != nil {
		b = append(b, "listen counters: "...)
		b = append(b, r.CountersErr.Error()...)
	} else {
		for i, c := range counterFields(&r.Counters) {
			if i > 0 {
				b = append(b, "  "...)
			}
			b = append(b, c.kernel...)
			b = append(b, ' ')
			if c.c.Known {
				b = strconv.AppendUint(b, c.c.Value, 10)
			} else {
				b = append(b, '?')
			}
		}
		b = append(b, " (since the namespace began"...)
		if r.CountersOf != "" {
			b = append(b, "; netns "...)
			b = append(b, r.CountersOf...)
		}
		b = append(b, ')')
	}
	bw.Write(append(b, '\n'))
	return bw.Flush()
}

type counterField struct {
	kernel, json string
	c            collect.Counter
}

// counterFields are the counters under their kernel and JSON names.
func counterFields(c *collect.ListenCounters) [4]counterField {
	return [4]counterField{
		{"ListenOverflows", "listen_overflows", c.ListenOverflows},
		{"ListenDrops", "listen_drops", c.ListenDrops},
		{"TCPReqQFullDrop", "reqq_full_drop", c.ReqQFullDrop},
		{"TCPReqQFullDoCookies", "reqq_full_do_cookies", c.ReqQFullDoCookies},
	}
}

// WriteListenersJSON writes the report as one JSON document:
//
//	{"taken": ..., "source": ..., "partial": false,
//	 "counters": {"netns": "host", "listen_overflows": 458, ...},
//	 "listeners": [{socket fields..., "accept_queue": 2, "backlog": 1,
//	   "full": true, "syn_queue": 0}]}
//
// Each listener carries the socket's fields as WriteJSON gives them;
// "accept_queue", "backlog" and "full" are absent when the source could
// not read the queues, "syn_queue" when SYN_RECV was not collected, and
// "syn_queue_shared" is true for an SO_REUSEPORT group's count. A counter
// the kernel lacks is null; "counters" is replaced by "counters_error"
// when they could not be read.
func WriteListenersJSON(w io.Writer, r *ListenReport) error {
	b := make([]byte, 0, 4096)
	b = append(b, `{"taken":`...)
	b = appendJSONString(b, r.Snap.Taken.Format(time.RFC3339Nano))
	b = append(b, `,"source":`...)
	b = appendJSONString(b, r.Snap.Source)
	b = append(b, `,"partial":`...)
	b = strconv.AppendBool(b, r.Snap.Partial)
	if r.CountersErr != nil {
		b = append(b, `,"counters_error":`...)
		b = appendJSONString(b, r.CountersErr.Error())
	} else {
		b = append(b, `,"counters":{"netns":`...)
		b = appendJSONString(b, r.CountersOf)
		for _, c := range counterFields(&r.Counters) {
			b = append(b, `,"`...)
			b = append(b, c.json...)
			b = append(b, `":`...)
			if c.c.Known {
				b = strconv.AppendUint(b, c.c.Value, 10)
			} else {
				b = append(b, "null"...)
			}
		}
		b = append(b, '}')
	}
	b = append(b, `,"listeners":[`...)
	peers, jc := new(collect.Peers), new(jsonCache)
	for i := range r.Health {
		h := &r.Health[i]
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendSocketJSON(b, &r.Snap.Sockets[h.Index], peers, nil, jc); err != nil {
			return err
		}
		b = b[:len(b)-1] // the object's '}'
		if h.QueueKnown {
			b = append(b, `,"accept_queue":`...)
			b = strconv.AppendUint(b, uint64(h.AcceptQueue), 10)
			b = append(b, `,"backlog":`...)
			b = strconv.AppendUint(b, uint64(h.Backlog), 10)
			b = append(b, `,"full":`...)
			b = strconv.AppendBool(b, h.Full())
		}
		if h.SynKnown {
			b = append(b, `,"syn_queue":`...)
			b = strconv.AppendInt(b, int64(h.SynQueue), 10)
			if h.SynShared {
				b = append(b, `,"syn_queue_shared":true`...)
			}
		}
		b = append(b, '}')
	}
	b = append(b, "]}\n"...)
	_, err := w.Write(b)
	return err
}
