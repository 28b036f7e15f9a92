package output

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"socktop/collect"
	"socktop/group"
)

func rateSockets() []collect.Socket {
	lo := netip.MustParseAddr("127.0.0.1")
	return []collect.Socket{
		{Proto: collect.TCP, Family: 4, State: collect.StateEstablished, Local: netip.AddrPortFrom(lo, 80),
			Remote: netip.AddrPortFrom(lo, 5000), Rate: &collect.Rate{Send: 3 << 20, Recv: 1536}},
		{Proto: collect.TCP, Family: 4, State: collect.StateTimeWait, Local: netip.AddrPortFrom(lo, 81),
			Remote: netip.AddrPortFrom(lo, 5001)},
	}
}

// A group none of whose sockets has a rate shows "?" in the table and
// null in the JSON, never 0.
func TestGroupRatesUnknown(t *testing.T) {
	gs := group.Count(rateSockets(), group.ByPort)
	var buf bytes.Buffer
	if err := WriteGroupTable(&buf, gs, group.ByPort, true); err != nil {
		t.Fatal(err)
	}
	want := "Port  Count  ESTABLISHED  TIME_WAIT    Send    Recv  Owners\n" +
		":80       1            1          0  3.0M/s  1.5K/s\n" +
		":81       1            0          1       ?       ?\n"
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
	buf.Reset()
	if err := WriteGroupJSON(&buf, gs); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[1]["rates"] != nil || out[0]["rates"] == nil {
		t.Errorf("JSON %s: want rates on :80 and null on :81", buf.String())
	}
	if r, _ := out[0]["rates"].(map[string]any); r["send_bytes_per_s"] != float64(3<<20) || r["rated"] != float64(1) {
		t.Errorf(":80 rates %v", out[0]["rates"])
	}
	if !strings.Contains(buf.String(), `"filter":"sport = :81"`) {
		t.Errorf("JSON %s lacks the drill-down filter", buf.String())
	}
}

// By process the key is the owner: no Owners column, and the last
// count stays right-aligned.
func TestGroupTableByProcess(t *testing.T) {
	socks := rateSockets()
	socks[0].Owners = []collect.Owner{{PID: 812, Name: "nginx"}}
	var buf bytes.Buffer
	if err := WriteGroupTable(&buf, group.Count(socks, group.ByProcess), group.ByProcess, true); err != nil {
		t.Fatal(err)
	}
	want := "Process    Count  ESTABLISHED  TIME_WAIT    Send    Recv\n" +
		"nginx/812      1            1          0  3.0M/s  1.5K/s\n" +
		"-              1            0          1       ?       ?\n"
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
}
