package output

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"socktop/collect"
)

var (
	traceAt     = time.Date(2025, 3, 4, 5, 6, 7, 8000, time.UTC)
	traceClient = netip.MustParseAddrPort("127.1.2.3:40112")
	traceServer = netip.MustParseAddrPort("127.1.2.3:5194")
)

// decodeTraceLines parses NDJSON, one object per line, failing on a line
// that is not one JSON object.
func decodeTraceLines(t *testing.T, out []byte) []map[string]json.RawMessage {
	t.Helper()
	var objs []map[string]json.RawMessage
	for _, l := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		var o map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("line %q is not a JSON object: %v", l, err)
		}
		objs = append(objs, o)
	}
	return objs
}

func TestTraceTransitionJSON(t *testing.T) {
	var buf bytes.Buffer
	w := NewTraceWriter(&buf, true)
	if err := w.Header(); err != nil {
		t.Fatal(err)
	}
	kernel := collect.Transition{At: traceAt, Key: collect.Key{Proto: collect.TCP, Local: traceClient, Remote: traceServer},
		From: collect.StateSynSent, To: collect.StateEstablished, Source: collect.Kernel, Cookie: 77}
	s := collect.Socket{Proto: collect.TCP, Family: 4, Local: traceClient, Remote: traceServer, Unknown: collect.FieldCookie}
	// A sampled appearance has no earlier state, and its cookie comes from
	// the dump row.
	appeared := collect.Transition{At: traceAt, Key: kernel.Key, To: collect.StateNewSynRecv, Source: collect.Sampled}
	row := collect.Socket{Proto: collect.TCP, Family: 4, Local: traceClient, Remote: traceServer, Cookie: 99}
	// A gone socket whose cookie nobody knows.
	gone := collect.Transition{At: traceAt, Key: kernel.Key, From: collect.StateTimeWait, Source: collect.Sampled}
	for _, c := range []struct {
		tr *collect.Transition
		s  *collect.Socket
	}{{&kernel, &s}, {&appeared, &row}, {&gone, &s}} {
		if err := w.Transition(c.tr, c.s); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	objs := decodeTraceLines(t, buf.Bytes())
	if len(objs) != 3 {
		t.Fatalf("want 3 objects (Header writes none in JSON), got %d:\n%s", len(objs), buf.String())
	}
	want := []map[string]string{
		{"time": `"2025-03-04T05:06:07.000008000Z"`, "event": `"transition"`, "proto": `"tcp"`, "family": `4`,
			"local": `{"addr":"127.1.2.3","port":40112}`, "remote": `{"addr":"127.1.2.3","port":5194}`,
			"from": `"SYN_SENT"`, "to": `"ESTABLISHED"`, "source": `"kernel"`, "cookie": `77`},
		{"time": `"2025-03-04T05:06:07.000008000Z"`, "event": `"transition"`, "proto": `"tcp"`, "family": `4`,
			"local": `{"addr":"127.1.2.3","port":40112}`, "remote": `{"addr":"127.1.2.3","port":5194}`,
			"to": `"SYN_RECV"`, "source": `"sampled"`, "cookie": `99`},
		{"time": `"2025-03-04T05:06:07.000008000Z"`, "event": `"transition"`, "proto": `"tcp"`, "family": `4`,
			"local": `{"addr":"127.1.2.3","port":40112}`, "remote": `{"addr":"127.1.2.3","port":5194}`,
			"from": `"TIME_WAIT"`, "source": `"sampled"`},
	}
	for i, o := range objs {
		if len(o) != len(want[i]) {
			t.Errorf("object %d has %d fields, want %d: %s", i, len(o), len(want[i]), buf.String())
		}
		for k, v := range want[i] {
			if string(o[k]) != v {
				t.Errorf("object %d %q = %s, want %s", i, k, o[k], v)
			}
		}
	}
	var ts string
	json.Unmarshal(objs[0]["time"], &ts)
	if got, err := time.Parse(time.RFC3339Nano, ts); err != nil || !got.Equal(traceAt) {
		t.Errorf("time %q parses to %v (%v), want %v", ts, got, err, traceAt)
	}
}

func TestTraceClosedJSON(t *testing.T) {
	base := collect.Closed{Proto: collect.TCP, Family: 4, State: collect.StateClosed, Local: traceServer, Remote: traceClient,
		Cookie: 5, Received: traceAt}
	known := collect.ClosedConn{Closed: base, Opened: traceAt.Add(-1234567 * time.Nanosecond),
		Owners: []collect.Owner{{PID: 812, Name: `py"thon`}}, OwnersKnown: true,
		Path: []collect.Step{{State: collect.StateEstablished}, {State: collect.StateCloseWait}, {State: collect.StateLastAck}, {State: collect.StateClosed}}}
	known.Info = &collect.TCPInfo{BytesAcked: 12, BytesReceived: 8, TotalRetrans: 1, RTT: 55 * time.Microsecond}
	// Nothing but the kernel's record: no lifetime, no bytes (UDP), owners
	// unknown, no path.
	bare := collect.ClosedConn{Closed: base}
	bare.Proto = collect.UDP
	// Owners known to be nobody: an empty list, not an absent one.
	orphan := collect.ClosedConn{Closed: base, OwnersKnown: true}

	var buf bytes.Buffer
	w := NewTraceWriter(&buf, true)
	for _, c := range []*collect.ClosedConn{&known, &bare, &orphan} {
		if err := w.Closed(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Lost(traceAt, 3); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	objs := decodeTraceLines(t, buf.Bytes())
	if len(objs) != 4 {
		t.Fatalf("want 4 objects, got %d:\n%s", len(objs), buf.String())
	}
	checks := []struct {
		has    map[string]string
		absent []string
	}{
		{map[string]string{"event": `"closed"`, "proto": `"tcp"`, "from": `"LAST_ACK"`, "to": `"CLOSED"`, "source": `"kernel"`,
			"cookie": `5`, "lifetime_ms": `1.234`, "bytes_acked": `12`, "bytes_received": `8`, "retrans": `1`, "rtt_us": `55`,
			"owners": `[{"pid":812,"name":"py\"thon"}]`, "local": `{"addr":"127.1.2.3","port":5194}`}, nil},
		{map[string]string{"event": `"closed"`, "proto": `"udp"`, "to": `"CLOSED"`, "cookie": `5`},
			[]string{"from", "lifetime_ms", "bytes_acked", "bytes_received", "retrans", "rtt_us", "owners"}},
		{map[string]string{"owners": `[]`}, []string{"lifetime_ms", "bytes_acked"}},
		{map[string]string{"event": `"lost"`, "count": `3`, "time": `"2025-03-04T05:06:07.000008000Z"`}, []string{"proto"}},
	}
	for i, c := range checks {
		for k, v := range c.has {
			if string(objs[i][k]) != v {
				t.Errorf("object %d %q = %s, want %s", i, k, objs[i][k], v)
			}
		}
		for _, k := range c.absent {
			if v, ok := objs[i][k]; ok {
				t.Errorf("object %d has %q = %s; want it absent (unknown)", i, k, v)
			}
		}
	}
}

func TestTraceText(t *testing.T) {
	var buf bytes.Buffer
	w := NewTraceWriter(&buf, false)
	w.Header()
	at := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.Local)
	key := collect.Key{Proto: collect.TCP, Local: traceClient, Remote: traceServer}
	s := collect.Socket{Proto: collect.TCP, Family: 4, Local: traceClient, Remote: traceServer}
	w.Transition(&collect.Transition{At: at, Key: key, From: collect.StateFinWait1, To: collect.StateFinWait2, Source: collect.Kernel}, &s)
	w.Transition(&collect.Transition{At: at, Key: key, From: collect.StateEstablished, To: collect.StateTimeWait, Source: collect.Sampled}, &s)
	c := collect.ClosedConn{Closed: collect.Closed{Proto: collect.TCP, Family: 4, State: collect.StateClosed, Local: traceClient, Remote: traceServer, Received: at}}
	w.Closed(&c)
	c.Opened = at.Add(-2500 * time.Microsecond)
	c.Info = &collect.TCPInfo{BytesAcked: 7, BytesReceived: 9}
	c.OwnersKnown = true
	c.Owners = []collect.Owner{{PID: 1, Name: "a"}, {PID: 2, Name: "b"}}
	w.Closed(&c)
	w.Lost(at, 2)
	w.Flush()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	want := [][]string{
		{"TIME", "PROTO", "LOCAL", "REMOTE", "EVENT", "SOURCE"},
		{"05:06:07.123456", "tcp", "127.1.2.3:40112", "127.1.2.3:5194", "FIN_WAIT_1", "->", "FIN_WAIT_2", "kernel"},
		{"05:06:07.123456", "tcp", "127.1.2.3:40112", "127.1.2.3:5194", "ESTABLISHED", "⇢", "TIME_WAIT", "sampled"},
		{"05:06:07.123456", "tcp", "127.1.2.3:40112", "127.1.2.3:5194", "closed", "kernel", "lifetime", "?,", "tx", "?,", "rx", "?,", "owners", "?"},
		{"05:06:07.123456", "tcp", "127.1.2.3:40112", "127.1.2.3:5194", "closed", "kernel", "lifetime", "2.500", "ms,", "tx", "7,", "rx", "9,", "owners", "a/1,b/2"},
		{"05:06:07.123456", "lost", "2"},
	}
	if len(lines) != len(want) {
		t.Fatalf("want %d lines, got %d:\n%s", len(want), len(lines), buf.String())
	}
	for i, l := range lines {
		f := strings.Fields(l)
		if i == 5 {
			f = f[:3]
		}
		if strings.Join(f, " ") != strings.Join(want[i], " ") {
			t.Errorf("line %d = %q, want the fields %q", i, l, want[i])
		}
	}
	// The columns line up: SOURCE starts where "kernel" and "sampled" do.
	col := strings.Index(lines[0], "SOURCE")
	for _, i := range []int{1, 2} {
		if r := []rune(lines[i]); len(r) < col || !strings.HasPrefix(string(r[col:]), want[i][7]) {
			t.Errorf("line %d: the source is not in the SOURCE column (%d):\n%s\n%s", i, col, lines[0], lines[i])
		}
	}
}

// TestTraceClosedOwnersFromEvents shows owners learnt from the kernel's
// events as owners, marked as such in the JSON and the text, and leaves
// the mark off owners a snapshot gave.
func TestTraceClosedOwnersFromEvents(t *testing.T) {
	base := collect.Closed{Proto: collect.TCP, Family: 4, State: collect.StateClosed, Local: traceServer, Remote: traceClient,
		Cookie: 5, Received: traceAt}
	ev := collect.ClosedConn{Closed: base, Owners: []collect.Owner{{PID: 99, Name: "curl"}}, OwnersFromEvents: true}
	snap := collect.ClosedConn{Closed: base, Owners: []collect.Owner{{PID: 98, Name: "wget"}}, OwnersKnown: true}
	var buf bytes.Buffer
	w := NewTraceWriter(&buf, true)
	w.Closed(&ev)
	w.Closed(&snap)
	w.Flush()
	objs := decodeTraceLines(t, buf.Bytes())
	if len(objs) != 2 {
		t.Fatalf("want 2 objects, got %d:\n%s", len(objs), buf.String())
	}
	if o := objs[0]; string(o["owners"]) != `[{"pid":99,"name":"curl"}]` || string(o["owners_from"]) != `"events"` {
		t.Errorf("owners from events: owners %s, owners_from %s", o["owners"], o["owners_from"])
	}
	if o := objs[1]; string(o["owners"]) != `[{"pid":98,"name":"wget"}]` || o["owners_from"] != nil {
		t.Errorf("owners from a snapshot: owners %s, owners_from %s (want absent)", o["owners"], o["owners_from"])
	}

	buf.Reset()
	w = NewTraceWriter(&buf, false)
	w.Closed(&ev)
	w.Closed(&snap)
	w.Flush()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "owners curl/99 (from events)") || !strings.HasSuffix(lines[1], "owners wget/98") {
		t.Errorf("text:\n%s", buf.String())
	}
}
