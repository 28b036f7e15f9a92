package output

import (
	"bufio"
	"bytes"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"socktop/collect"
	"socktop/internal/synth"
)

// refWriteTableWith is the table writer as it was before its widths were
// counted rather than formatted: every cell formatted twice, once for the
// widths and once into its line. WriteTableWith must print the same bytes.
func refWriteTableWith(w io.Writer, snap *collect.Snapshot, opt TableOptions) error {
	header := opt.Header
	columns := onceColumns[:]
	if ManyNetNS(snap.Sockets) {
		columns = netnsColumns[:]
	}
	if opt.Rates {
		at := len(columns) - 2
		columns = append(append(append([]Column(nil), columns[:at]...), ColSendRate, ColRecvRate), columns[at:]...)
	}
	last := len(columns) - 1
	var width [len(netnsColumns) + 2]int
	if header {
		for i, c := range columns {
			width[i] = len(c.String())
		}
	}
	var cells Cells
	cells.Names = opt.Names
	for i := range snap.Sockets {
		for j, c := range columns[:last] {
			width[j] = max(width[j], len(cells.Append(nil, c, &snap.Sockets[i], Plain)))
		}
	}
	pad := func(b, cell []byte, width int, right, last bool) []byte {
		n := width - len(cell)
		if right {
			b = append(b, bytes.Repeat([]byte{' '}, max(n, 0))...)
			b = append(b, cell...)
		} else {
			b = append(b, cell...)
			if !last {
				b = append(b, bytes.Repeat([]byte{' '}, max(n, 0))...)
			}
		}
		if !last {
			b = append(b, ' ', ' ')
		}
		return b
	}
	bw := bufio.NewWriter(w)
	var line []byte
	if header {
		for j, c := range columns {
			line = pad(line, []byte(c.String()), width[j], c.Right(), j == last)
		}
		bw.Write(append(line, '\n'))
	}
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		line = line[:0]
		for j, c := range columns {
			line = pad(line, cells.Append(nil, c, s, Plain), width[j], c.Right(), j == last)
		}
		if opt.Options && s.Proto != collect.Unix && (s.Timer != collect.TimerOff || !s.Known(collect.FieldTimer)) {
			line = AppendSSTimer(append(line, ' '), s)
		}
		if opt.Extended {
			line = AppendSSDetails(append(line, ' '), s)
		}
		line = append(line, '\n')
		if opt.Info && s.Info != nil {
			line = append(AppendInfo(append(line, '\t'), s, opt.Rates), '\n')
		}
		bw.Write(line)
	}
	return bw.Flush()
}

// tableOptionSets are the --once variants the comparisons print each
// table with.
var tableOptionSets = []TableOptions{
	{},
	{Header: true},
	{Header: true, Options: true, Extended: true},
	{Header: true, Names: tableNames{}},
	{Header: true, Rates: true, Info: true},
	{Rates: true, Names: tableNames{}, Extended: true},
}

// oddSockets are rows that stretch the columns: IPv4-mapped and zoned
// addresses, the longest IPv6 text, queues and pids of many digits, a
// name longer than any padding, unknown fields, and a timer of minutes.
func oddSockets() []collect.Socket {
	long := strings.Repeat("w", 90)
	return []collect.Socket{
		{Proto: collect.TCP, Family: 6, State: collect.StateEstablished,
			Local:  netip.MustParseAddrPort("[::ffff:127.0.0.1]:8080"),
			Remote: netip.MustParseAddrPort("[::ffff:127.0.0.1]:50000"),
			RecvQ:  4294967295, SendQ: 1234567, Owners: []collect.Owner{{PID: 2147483647, Name: long}}},
		{Proto: collect.TCP, Family: 6, State: collect.StateListen, Local: netip.MustParseAddrPort("[::]:8080")},
		{Proto: collect.UDP, Family: 6, State: collect.StateUnconn, Local: netip.MustParseAddrPort("[::]:0")},
		{Proto: collect.TCP, Family: 6, State: collect.StateSynSent,
			Local:  netip.MustParseAddrPort("[fe80::1%" + strings.Repeat("z", 60) + "]:5000"),
			Remote: netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
			Timer:  collect.TimerKeepalive, TimerLeft: 119 * time.Minute, Retrans: 255,
			Owners: []collect.Owner{{PID: -1, Name: "odd"}, {PID: 2, Name: "b"}}},
		{Proto: collect.TCP, Family: 4, State: collect.StateNewSynRecv, Local: netip.MustParseAddrPort("10.255.255.255:65535"),
			Remote: netip.MustParseAddrPort("192.168.100.200:1"), Timer: collect.TimerOn, TimerLeft: 9 * time.Millisecond},
		{Proto: collect.UDP, Family: 4, State: collect.StateUnconn, Local: netip.MustParseAddrPort("127.0.0.1:53"),
			Unknown: collect.FieldRecvQ | collect.FieldSendQ | collect.FieldOwners | collect.FieldTimer | collect.FieldUID | collect.FieldInode | collect.FieldCookie},
		{Proto: collect.TCP, Family: 4, State: collect.StateEstablished, Local: netip.MustParseAddrPort("127.0.0.1:80"),
			Remote: netip.MustParseAddrPort("127.0.0.1:40000"), Info: &collect.TCPInfo{RTT: time.Millisecond},
			Rate: &collect.Rate{Send: 1.5e6, Recv: 20}},
		{Proto: collect.TCP, Family: 4, State: collect.State(99)},
		{Proto: collect.TCP, Family: 4, State: collect.StateEstablished, Local: netip.MustParseAddrPort("127.0.0.1:81"),
			Remote: netip.MustParseAddrPort("127.0.0.1:40001"), Mark: 0x10, CgroupID: 1},
		{Proto: collect.UDP, Family: 6, State: collect.StateUnconn, Local: netip.MustParseAddrPort("[::1]:53"),
			Unknown: collect.FieldMark | collect.FieldCgroup},
	}
}

// checkSameTable prints snap with both writers under every option set
// and reports the first line that differs.
func checkSameTable(t *testing.T, name string, snap *collect.Snapshot) {
	t.Helper()
	for _, opt := range tableOptionSets {
		var got, want bytes.Buffer
		if err := WriteTableWith(&got, snap, opt); err != nil {
			t.Fatal(err)
		}
		if err := refWriteTableWith(&want, snap, opt); err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(got.Bytes(), want.Bytes()) {
			continue
		}
		g, w := strings.Split(got.String(), "\n"), strings.Split(want.String(), "\n")
		for i := range max(len(g), len(w)) {
			var gl, wl string
			if i < len(g) {
				gl = g[i]
			}
			if i < len(w) {
				wl = w[i]
			}
			if gl != wl {
				t.Errorf("%s, %+v, line %d:\n got %q\nwant %q", name, opt, i, gl, wl)
				break
			}
		}
	}
}

// The counted widths and the single formatting pass print what the old
// writer printed, byte for byte, on synthetic tables, Unix sockets, rows
// of several namespaces and rows that stretch every column.
func TestWriteTableMatchesReference(t *testing.T) {
	snap := synth.Table(3000, 3)
	snap.Sockets = append(snap.Sockets, oddSockets()...)
	for _, s := range cellSockets {
		if s.NetNS.Inode == 0 {
			snap.Sockets = append(snap.Sockets, s)
		}
	}
	checkSameTable(t, "synthetic", snap)
	checkSameTable(t, "unix", unixSnapshot())
	checkSameTable(t, "empty", &collect.Snapshot{})

	ns := &collect.Snapshot{Sockets: oddSockets()}
	for i := range ns.Sockets {
		ns.Sockets[i].NetNS = collect.NetNS{Inode: 4026531840 + uint32(i%3)}
		if i%2 == 0 {
			ns.Sockets[i].NetNS.Name = "socktop-" + strings.Repeat("n", i)
		}
	}
	checkSameTable(t, "netns", ns)
}

// Len is the length of what Append appends, for every column and form,
// with and without names, whatever came before (the address memo).
func TestCellsLen(t *testing.T) {
	socks := oddSockets()
	socks = append(socks, unixSnapshot().Sockets...)
	socks = append(socks, synth.Table(200, 5).Sockets...)
	for _, s := range cellSockets {
		socks = append(socks, s)
	}
	for _, v := range []struct {
		names  Namer
		cached bool
	}{{nil, false}, {tableNames{}, false}, {nil, true}, {tableNames{}, true}} {
		names := v.names
		var lenCells, appendCells Cells
		lenCells.Names, appendCells.Names = names, names
		if v.cached {
			lenCells.cache, appendCells.cache = new(addrCache), new(addrCache)
		}
		for i := range socks {
			s := &socks[i]
			for col := range NumColumns {
				for _, f := range []Form{Plain, Live, Narrow} {
					text := appendCells.Append(nil, col, s, f)
					if n := lenCells.Len(col, s, f); n != len(text) {
						t.Errorf("socket %d %v, %s, form %d, names %v, cache %v: Len %d, Append %q", i, s.Local, col, f, names != nil, v.cached, n, text)
					}
				}
			}
		}
	}
	c := Cells{cache: &addrCache{}}
	if n := testing.AllocsPerRun(10, func() {
		for i := range socks {
			for col := range NumColumns {
				c.Len(col, &socks[i], Plain)
			}
		}
	}); n != 0 {
		t.Errorf("Len allocates: %v per table", n)
	}
}

func TestDecLen(t *testing.T) {
	for _, v := range []uint64{0, 1, 9, 10, 99, 100, 9999, 10000, 99999, 100000, 4294967295, 1<<64 - 1} {
		if got, want := decLen(v), len(strconv.FormatUint(v, 10)); got != want {
			t.Errorf("decLen(%d) = %d, want %d", v, got, want)
		}
	}
}

// BenchmarkWriteTableDiscard is the --once table of 100k synthetic rows
// without the cost of a growing destination buffer.
func BenchmarkWriteTableDiscard(b *testing.B) {
	snap := synth.Table(100000, 1)
	for b.Loop() {
		if err := WriteTable(io.Discard, snap, true); err != nil {
			b.Fatal(err)
		}
	}
}

// The cache prints exactly what AppendAddr prints, through collisions of
// its slots, both columns, both families, the unspecified and the invalid
// address, and zoned addresses too long to keep.
func TestAddrCacheMatchesAppendAddr(t *testing.T) {
	aps := []netip.AddrPort{
		netip.MustParseAddrPort("[::ffff:127.0.0.1]:22"), netip.MustParseAddrPort("127.0.0.1:22"),
		netip.MustParseAddrPort("0.0.0.0:0"), netip.MustParseAddrPort("[::]:0"), {},
		netip.MustParseAddrPort("[fe80::1%eth0]:5000"), netip.MustParseAddrPort("[fe80::1%eth1]:5000"),
		netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%" + strings.Repeat("z", 40) + "]:65535"),
		netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:1"),
		netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:1"),
	}
	for i := range 500 { // more addresses than slots
		aps = append(aps, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), uint16(i)),
			netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 15: byte(i), 14: byte(i >> 8)}), 0))
	}
	var c addrCache
	for round := range 3 {
		for i, ap := range aps {
			for _, fam := range []uint8{4, 6} {
				col := (i + round) % 2
				want := FormatAddr(ap, fam)
				if got := string(c.append(col, nil, ap, fam)); got != want {
					t.Fatalf("cache %v/%d, column %d = %q, want %q", ap, fam, col, got, want)
				}
				if n := c.len(col, ap, fam); n != len(want) {
					t.Fatalf("cache len %v/%d = %d, want %d", ap, fam, n, len(want))
				}
			}
		}
	}
}

// BenchmarkWriteJSONDiscard is --json of 100k synthetic rows, without the
// cost of a growing destination buffer.
func BenchmarkWriteJSONDiscard(b *testing.B) {
	snap := synth.Table(100000, 1)
	for b.Loop() {
		if err := WriteJSON(io.Discard, snap); err != nil {
			b.Fatal(err)
		}
	}
}
