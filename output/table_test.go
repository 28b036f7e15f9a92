package output

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"socktop/collect"
	"socktop/internal/synth"
)

// cellSockets are the cases of the column model: both families, a timer
// with retransmits, one, two and three owners, and a socket whose source
// knows neither queues, owners nor timer.
var cellSockets = map[string]collect.Socket{
	"listen4": {Proto: collect.TCP, Family: 4, State: collect.StateListen, Local: netip.MustParseAddrPort("0.0.0.0:22"),
		Owners: []collect.Owner{{PID: 812, Name: "nginx"}}},
	"estab6": {Proto: collect.TCP, Family: 6, State: collect.StateEstablished, RecvQ: 12, SendQ: 3400,
		Local: netip.MustParseAddrPort("[::1]:443"), Remote: netip.MustParseAddrPort("[::1]:50000"),
		Owners: []collect.Owner{{PID: 812, Name: "nginx"}, {PID: 813, Name: "nginx"}, {PID: 9, Name: "init"}},
		Timer:  collect.TimerOn, TimerLeft: 796 * time.Millisecond, Retrans: 3},
	"tw": {Proto: collect.TCP, Family: 4, State: collect.StateTimeWait,
		Local: netip.MustParseAddrPort("127.0.0.1:40112"), Remote: netip.MustParseAddrPort("127.0.0.1:5194"),
		Timer: collect.TimerTimeWait, TimerLeft: 58123 * time.Millisecond},
	"udp6two": {Proto: collect.UDP, Family: 6, State: collect.StateUnconn, Local: netip.MustParseAddrPort("[::]:53"),
		Owners: []collect.Owner{{PID: 1, Name: "a"}, {PID: 22, Name: "b c"}}},
	"netns": {Proto: collect.TCP, Family: 4, State: collect.StateListen, Local: netip.MustParseAddrPort("127.0.0.1:80"),
		NetNS: collect.NetNS{Inode: 4026532288, Name: "socktop-a"}},
	"netnsNoName": {Proto: collect.TCP, Family: 4, State: collect.StateListen, Local: netip.MustParseAddrPort("127.0.0.1:80"),
		NetNS: collect.NetNS{Inode: 4026532288}},
	"unknown": {Proto: collect.TCP, Family: 4, State: collect.StateListen, Local: netip.MustParseAddrPort("127.0.0.1:80"),
		Unknown: collect.FieldRecvQ | collect.FieldSendQ | collect.FieldOwners | collect.FieldTimer},
}

// TestCells: every column of every case in each form. An owner is
// "name/pid" everywhere, with "+N" for the others; only the timer and the
// protocol differ between forms.
func TestCells(t *testing.T) {
	type row [NumColumns]string
	cases := []struct {
		sock string
		form Form
		want row
	}{
		{"listen4", Plain, row{"tcp", "LISTEN", "0", "0", "0.0.0.0:22", "0.0.0.0:*", "nginx/812", "off", "?", "-", "-"}},
		{"listen4", Live, row{"tcp", "LISTEN", "0", "0", "0.0.0.0:22", "0.0.0.0:*", "nginx/812", "", "?"}},
		{"estab6", Plain, row{"tcp6", "ESTABLISHED", "12", "3400", "[::1]:443", "[::1]:50000", "nginx/812 +2", "on 796ms r3", "?", "-", "-"}},
		{"estab6", Live, row{"tcp6", "ESTABLISHED", "12", "3400", "[::1]:443", "[::1]:50000", "nginx/812 +2", "on 796ms r3", "?"}},
		{"estab6", Narrow, row{"tcp", "ESTABLISHED", "12", "3400", "[::1]:443", "[::1]:50000", "nginx/812 +2", "on 796ms", "?"}},
		{"tw", Plain, row{"tcp", "TIME_WAIT", "0", "0", "127.0.0.1:40112", "127.0.0.1:5194", "-", "timewait 58.1s", "?", "-", "-"}},
		{"tw", Narrow, row{"tcp", "TIME_WAIT", "0", "0", "127.0.0.1:40112", "127.0.0.1:5194", "-", "tw 58.1s", "?"}},
		{"udp6two", Plain, row{"udp6", "UNCONN", "0", "0", "[::]:53", "[::]:*", "a/1 +1", "off", "?", "-", "-"}},
		{"unknown", Plain, row{"tcp", "LISTEN", "?", "?", "127.0.0.1:80", "0.0.0.0:*", "?", "?", "?", "-", "-"}},
		{"netns", Plain, row{"tcp", "LISTEN", "0", "0", "127.0.0.1:80", "0.0.0.0:*", "-", "off", "socktop-a", "-", "-"}},
		{"netnsNoName", Plain, row{"tcp", "LISTEN", "0", "0", "127.0.0.1:80", "0.0.0.0:*", "-", "off", "4026532288", "-", "-"}},
		{"unknown", Narrow, row{"tcp", "LISTEN", "?", "?", "127.0.0.1:80", "0.0.0.0:*", "?", "?", "?"}},
	}
	var cells Cells
	for _, c := range cases {
		s := cellSockets[c.sock]
		for col := range NumColumns {
			if got := string(cells.Append(nil, col, &s, c.form)); got != c.want[col] {
				t.Errorf("%s, form %d, %s: %q, want %q", c.sock, c.form, col, got, c.want[col])
			}
		}
	}
}

// TestRateCells: a rate is AppendRate's figure in every form, "?" while
// unknown on a socket with tcp_info, and for a socket without tcp_info
// blank in the live forms and "-" in Plain, never 0.
func TestRateCells(t *testing.T) {
	info := &collect.TCPInfo{}
	known := collect.Socket{Proto: collect.TCP, Info: info, Rate: &collect.Rate{Send: 2e6, Recv: 0}}
	unknown := collect.Socket{Proto: collect.TCP, Info: info}
	none := collect.Socket{Proto: collect.UDP}
	var cells Cells
	for _, c := range []struct {
		s          *collect.Socket
		form       Form
		send, recv string
	}{
		{&known, Plain, "2.00MB", "0B"}, {&known, Live, "2.00MB", "0B"}, {&known, Narrow, "2.00MB", "0B"},
		{&unknown, Plain, "?", "?"}, {&unknown, Live, "?", "?"},
		{&none, Plain, "-", "-"}, {&none, Live, "", ""}, {&none, Narrow, "", ""},
	} {
		if got := string(cells.Append(nil, ColSendRate, c.s, c.form)); got != c.send {
			t.Errorf("Send/s of %+v in form %d: %q, want %q", *c.s, c.form, got, c.send)
		}
		if got := string(cells.Append(nil, ColRecvRate, c.s, c.form)); got != c.recv {
			t.Errorf("Recv/s of %+v in form %d: %q, want %q", *c.s, c.form, got, c.recv)
		}
	}
}

func TestAppendRate(t *testing.T) {
	for v, want := range map[float64]string{0: "0B", 0.4: "0B", 999: "999B", 999.6: "1.00kB", 1500: "1.50kB",
		20_040: "20.0kB", 125_000: "125kB", 999_600: "1.00MB", 12_345_678: "12.3MB", 1.25e9: "1.25GB", 3e15: "3.00PB"} {
		if got := string(AppendRate(nil, v)); got != want {
			t.Errorf("AppendRate(%v) = %q, want %q", v, got, want)
		}
	}
}

// TestCellsDoNotAllocate: the --once table formats every row of a 100k
// table, so a cell appended into a buffer with room costs nothing.
func TestCellsDoNotAllocate(t *testing.T) {
	var cells Cells
	buf := make([]byte, 0, 128)
	for name, s := range cellSockets {
		for col := range NumColumns {
			for _, f := range []Form{Plain, Live, Narrow} {
				if n := testing.AllocsPerRun(10, func() { buf = cells.Append(buf[:0], col, &s, f) }); n != 0 {
					t.Errorf("%s, %s, form %d: %v allocations", name, col, f, n)
				}
			}
		}
	}
}

// TestWriteTable: netstat's column order, figures right-aligned, columns
// as wide as their widest cell, and -H's table without the header line.
func TestWriteTable(t *testing.T) {
	snap := &collect.Snapshot{}
	for _, k := range []string{"listen4", "estab6", "tw", "unknown"} {
		snap.Sockets = append(snap.Sockets, cellSockets[k])
	}
	const head = "Proto  Recv-Q  Send-Q  Local            Foreign         State        Process       Timer\n"
	const rows = "" +
		"tcp         0       0  0.0.0.0:22       0.0.0.0:*       LISTEN       nginx/812     off\n" +
		"tcp6       12    3400  [::1]:443        [::1]:50000     ESTABLISHED  nginx/812 +2  on 796ms r3\n" +
		"tcp         0       0  127.0.0.1:40112  127.0.0.1:5194  TIME_WAIT    -             timewait 58.1s\n" +
		"tcp         ?       ?  127.0.0.1:80     0.0.0.0:*       LISTEN       ?             ?\n"
	var b bytes.Buffer
	if err := WriteTable(&b, snap, true); err != nil {
		t.Fatal(err)
	}
	if b.String() != head+rows {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), head+rows)
	}
	// Without the header, the columns fit the rows alone.
	b.Reset()
	if err := WriteTable(&b, &collect.Snapshot{Sockets: snap.Sockets[2:3]}, false); err != nil {
		t.Fatal(err)
	}
	if want := "tcp  0  0  127.0.0.1:40112  127.0.0.1:5194  TIME_WAIT  -  timewait 58.1s\n"; b.String() != want {
		t.Errorf("-H table: %q, want %q", b.String(), want)
	}
}

func BenchmarkWriteTable100k(b *testing.B) {
	snap := synth.Table(100000, 1)
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := WriteTable(&buf, snap, true); err != nil {
			b.Fatal(err)
		}
	}
}

// The memo must print exactly what AppendAddr prints, whatever the
// order of addresses (same address, other port, other family, unspecified,
// a zone, one too long to remember), and a copy of it must not change
// what the original prints.
func TestAddrMemoMatchesAppendAddr(t *testing.T) {
	cases := []struct {
		ap  netip.AddrPort
		fam uint8
	}{
		{netip.MustParseAddrPort("127.0.0.1:80"), 4},
		{netip.MustParseAddrPort("127.0.0.1:81"), 4},
		{netip.MustParseAddrPort("0.0.0.0:0"), 4},
		{netip.MustParseAddrPort("0.0.0.0:53"), 4},
		{netip.AddrPort{}, 6},
		{netip.AddrPort{}, 4},
		{netip.MustParseAddrPort("[::]:0"), 6},
		{netip.MustParseAddrPort("[::1]:443"), 6},
		{netip.MustParseAddrPort("[::1]:0"), 6},
		{netip.MustParseAddrPort("[::ffff:127.0.0.1]:22"), 6},
		{netip.MustParseAddrPort("127.0.0.1:22"), 4},
		{netip.MustParseAddrPort("[fe80::1%eth0]:5000"), 6},
		{netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%" + strings.Repeat("z", 40) + "]:65535"), 6},
		{netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%" + strings.Repeat("z", 40) + "]:1"), 6},
	}
	var m addrMemo
	for round := 0; round < 2; round++ {
		for i, c := range cases {
			got := string(m.append(nil, c.ap, c.fam))
			if want := FormatAddr(c.ap, c.fam); got != want {
				t.Errorf("memo %v/%d = %q, want %q", c.ap, c.fam, got, want)
			}
			// A copy formats the next case; the original must still print
			// this one.
			cp := m
			next := cases[(i+1)%len(cases)]
			cp.append(nil, next.ap, next.fam)
			if got := string(m.append(nil, c.ap, c.fam)); got != FormatAddr(c.ap, c.fam) {
				t.Errorf("memo %v/%d after a copy's use = %q", c.ap, c.fam, got)
			}
		}
	}
}
