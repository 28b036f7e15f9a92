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

// tableNames is a Namer of fixed answers: 127.0.0.1 is localhost, TCP 80
// is http, UDP 53 is domain.
type tableNames struct{}

func (tableNames) Host(a netip.Addr) (string, bool) {
	if a == netip.MustParseAddr("127.0.0.1") {
		return "localhost", true
	}
	return "", false
}

func (tableNames) Service(p collect.Proto, port uint16) (string, bool) {
	switch {
	case p == collect.TCP && port == 80:
		return "http", true
	case p == collect.UDP && port == 53:
		return "domain", true
	}
	return "", false
}

func TestAppendNamedAddr(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	for _, c := range []struct {
		ap    netip.AddrPort
		fam   uint8
		proto collect.Proto
		want  string
	}{
		{netip.AddrPortFrom(lo, 80), 4, collect.TCP, "localhost:http"},
		{netip.AddrPortFrom(lo, 80), 4, collect.UDP, "localhost:80"},
		{netip.AddrPortFrom(lo, 53), 4, collect.UDP, "localhost:domain"},
		{netip.MustParseAddrPort("[::1]:80"), 6, collect.TCP, "[::1]:http"},
		{netip.MustParseAddrPort("0.0.0.0:0"), 4, collect.TCP, "0.0.0.0:*"},
		{netip.MustParseAddrPort("0.0.0.0:80"), 4, collect.TCP, "0.0.0.0:http"},
		{netip.AddrPort{}, 6, collect.TCP, "[::]:*"},
		{netip.MustParseAddrPort("192.0.2.1:40000"), 4, collect.TCP, "192.0.2.1:40000"},
	} {
		if got := string(AppendNamedAddr(nil, c.ap, c.fam, c.proto, tableNames{})); got != c.want {
			t.Errorf("AppendNamedAddr(%v, %v) = %q, want %q", c.ap, c.proto, got, c.want)
		}
		if got, want := string(AppendNamedAddr(nil, c.ap, c.fam, c.proto, nil)), FormatAddr(c.ap, c.fam); got != want {
			t.Errorf("without names %v = %q, want AppendAddr's %q", c.ap, got, want)
		}
	}
}

// ss's print_ms_timer, from the values ss prints for them.
func TestAppendSSMs(t *testing.T) {
	for ms, want := range map[int64]string{
		0: "", 7: "007ms", 200: "200ms", 1000: "1sec", 5080: "5.080ms", 58000: "58sec",
		58123: "58sec", 60000: "1min", 61500: "1min1sec", 599000: "9min59sec",
		7_140_000: "119min", -5: "",
	} {
		if got := string(appendSSMs(nil, ms)); got != want {
			t.Errorf("%dms: %q, want %q", ms, got, want)
		}
	}
}

// -o and -e add ss's fields after the last column: the timer only when
// one runs, the details always, "?" for what the source could not know.
func TestTableOptionsExtended(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	ka := collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateEstablished,
		Local: netip.AddrPortFrom(lo, 80), Remote: netip.AddrPortFrom(lo, 40000),
		UID: 1000, Inode: 4242, Cookie: 0x1f2e, Timer: collect.TimerKeepalive, TimerLeft: 7140 * time.Second, Retrans: 0}
	ln := collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateListen,
		Local: netip.AddrPortFrom(lo, 80), Inode: 4241, Cookie: 1, Unknown: collect.FieldUID}
	snap := &collect.Snapshot{Sockets: []collect.Socket{ka, ln}}
	var b bytes.Buffer
	if err := WriteTableWith(&b, snap, TableOptions{Options: true, Extended: true, Names: tableNames{}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want two rows:\n%s", b.String())
	}
	if !strings.HasSuffix(lines[0], " timer:(keepalive,119min,0) uid:1000 ino:4242 sk:1f2e") || !strings.Contains(lines[0], "localhost:http") {
		t.Errorf("keepalive row: %q", lines[0])
	}
	if !strings.HasSuffix(lines[1], " off uid:? ino:4241 sk:1") || strings.Contains(lines[1], "timer:(") {
		t.Errorf("listener row: %q", lines[1])
	}
	// The names fit their column: the fields after it line up.
	if strings.Index(lines[0], "localhost:40000") != strings.Index(lines[1], "0.0.0.0:*") {
		t.Errorf("the Foreign column is not aligned:\n%s", b.String())
	}
}

// The JSON keeps the numbers and adds the names it knows.
func TestJSONNames(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	s := collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateEstablished,
		Local: netip.AddrPortFrom(lo, 80), Remote: netip.MustParseAddrPort("192.0.2.1:40000")}
	var b bytes.Buffer
	if err := WriteJSONWith(&b, &collect.Snapshot{Sockets: []collect.Socket{s}}, tableNames{}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Sockets []struct {
			Local, Remote map[string]any
		}
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	l, r := doc.Sockets[0].Local, doc.Sockets[0].Remote
	if l["addr"] != "127.0.0.1" || l["port"] != 80.0 || l["host"] != "localhost" || l["service"] != "http" {
		t.Errorf("local: %v", l)
	}
	if _, ok := r["host"]; ok || r["addr"] != "192.0.2.1" || r["port"] != 40000.0 {
		t.Errorf("remote: %v", r)
	}
	if _, ok := r["service"]; ok {
		t.Errorf("remote has a service: %v", r)
	}
}
