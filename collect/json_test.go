package collect_test

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"
	"time"

	. "socktop/collect"
	"socktop/internal/synth"
)

// WriteJSON streams by hand; it must say exactly what encoding/json says of
// the same sockets through MarshalJSON, for awkward values too.
func TestWriteJSONAgreesWithEncodingJSON(t *testing.T) {
	snap := synth.Table(2000, 7)
	snap.Partial = true
	odd := []Socket{
		{Proto: UDP, Family: 6, State: StateUnconn, Local: netip.MustParseAddrPort("[::]:53")},
		{Proto: TCP, Family: 4, State: StateNewSynRecv},
		{Proto: TCP, Family: 6, State: StateEstablished,
			Local:  netip.MustParseAddrPort("[::ffff:127.0.0.1]:22"),
			Remote: netip.MustParseAddrPort("[fe80::1%eth0]:5000"),
			Owners: []Owner{{PID: 1, Name: "a\"b\\c\n\t<x>&\x01\u2028é\xff"}, {PID: 2, Name: ""}},
			Timer:  TimerOn, TimerLeft: 1500 * time.Microsecond, Retrans: 3,
			Info: &TCPInfo{RTT: time.Millisecond, Cwnd: 10, BytesAcked: 1 << 40}},
	}
	snap.Sockets = append(snap.Sockets, odd...)

	var got bytes.Buffer
	if err := WriteJSON(&got, snap); err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(map[string]any{
		"taken":   snap.Taken.Format(time.RFC3339Nano),
		"source":  snap.Source,
		"partial": snap.Partial,
		"sockets": snap.Sockets,
	})
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(got.Bytes(), &g); err != nil {
		t.Fatalf("WriteJSON wrote invalid JSON: %v", err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		gs := g.(map[string]any)["sockets"].([]any)
		ws := w.(map[string]any)["sockets"].([]any)
		for i := range ws {
			if !reflect.DeepEqual(gs[i], ws[i]) {
				t.Fatalf("socket %d differs:\n got %v\nwant %v", i, gs[i], ws[i])
			}
		}
		t.Fatalf("documents differ outside the sockets")
	}
	// The escaped name itself, byte for byte, as encoding/json writes it.
	name := odd[2].Owners[0].Name
	wantName, _ := json.Marshal(name)
	if !bytes.Contains(got.Bytes(), wantName) {
		t.Errorf("WriteJSON does not escape %q as encoding/json does (%s)", name, wantName)
	}
	if !bytes.HasSuffix(got.Bytes(), []byte("]}\n")) {
		t.Errorf("document does not end with a newline")
	}
}

func BenchmarkWriteJSON100k(b *testing.B) {
	snap := synth.Table(100000, 1)
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := WriteJSON(&buf, snap); err != nil {
			b.Fatal(err)
		}
	}
}
