package output

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"socktop/collect"
)

func listenReport() *ListenReport {
	ap := netip.MustParseAddrPort
	snap := &collect.Snapshot{Taken: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Source: "gopsutil", Owners: collect.OwnersComplete,
		Sockets: []collect.Socket{
			{Proto: collect.TCP, Family: 4, State: collect.StateListen, Local: ap("0.0.0.0:80"), RecvQ: 5, SendQ: 4, Owners: []collect.Owner{{PID: 1, Name: "web"}}},
			{Proto: collect.TCP, Family: 4, State: collect.StateListen, Local: ap("0.0.0.0:81"), Unknown: collect.FieldRecvQ | collect.FieldSendQ},
		}}
	var x collect.ListenerIndex
	x.NoSynRecv = true
	c := collect.ListenCounters{ListenOverflows: collect.Counter{Value: 7, Known: true}, ListenDrops: collect.Counter{Value: 9, Known: true}}
	return &ListenReport{Snap: snap, Health: x.Health(snap.Sockets), Counters: c, CountersOf: "host"}
}

// TestWriteListenersUnknown: a queue or a counter the source or kernel
// cannot give prints as "?" in the table and is absent or null in JSON.
func TestWriteListenersUnknown(t *testing.T) {
	r := listenReport()
	var b bytes.Buffer
	if err := WriteListeners(&b, r, true); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[1], "! 0.0.0.0:80") || !strings.Contains(lines[1], "5/4") ||
		!strings.HasPrefix(lines[2], "  0.0.0.0:81") || strings.Count(lines[2], "?") != 2 ||
		!strings.Contains(lines[3], "ListenOverflows 7  ListenDrops 9  TCPReqQFullDrop ?  TCPReqQFullDoCookies ?") {
		t.Errorf("table:\n%s", b.String())
	}
	b.Reset()
	if err := WriteListenersJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Counters  map[string]any   `json:"counters"`
		Listeners []map[string]any `json:"listeners"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if v, ok := doc.Counters["reqq_full_drop"]; !ok || v != nil {
		t.Errorf("an unknown counter is %v, want null", v)
	}
	if doc.Counters["listen_overflows"] != 7.0 {
		t.Errorf("counters %v", doc.Counters)
	}
	if l := doc.Listeners[0]; l["accept_queue"] != 5.0 || l["backlog"] != 4.0 || l["full"] != true {
		t.Errorf("listener 0: %v", l)
	}
	for _, k := range []string{"accept_queue", "backlog", "full", "syn_queue"} {
		if _, ok := doc.Listeners[1][k]; ok {
			t.Errorf("listener 1 has %s though it is unknown", k)
		}
	}
	if _, ok := doc.Listeners[0]["syn_queue"]; ok {
		t.Error("syn_queue present though SYN_RECV was not collected")
	}
	r.CountersErr = errors.New("no /proc")
	b.Reset()
	if err := WriteListenersJSON(&b, r); err != nil || !strings.Contains(b.String(), `"counters_error":"no /proc"`) || strings.Contains(b.String(), `"counters":`) {
		t.Errorf("counters error: %v %s", err, b.String())
	}
}
