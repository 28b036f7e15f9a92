package collect

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func parseFile(t *testing.T, path string) ListenCounters {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := ParseNetstat(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

func TestParseNetstat(t *testing.T) {
	// A copy of a 6.18 kernel's file: TcpExt, IpExt and MPTcpExt.
	c := parseFile(t, "testdata/netstat_6.18.txt")
	want := ListenCounters{
		ListenOverflows:   Counter{458, true},
		ListenDrops:       Counter{458, true},
		ReqQFullDrop:      Counter{0, true},
		ReqQFullDoCookies: Counter{0, true},
	}
	if c != want {
		t.Errorf("6.18: got %+v, want %+v", c, want)
	}
}

func TestParseNetstatOldKernel(t *testing.T) {
	// A kernel before TCPReqQFullDrop and TCPReqQFullDoCookies: those
	// are unknown, not 0.
	c := parseFile(t, "testdata/netstat_old.txt")
	want := ListenCounters{
		ListenOverflows: Counter{77, true},
		ListenDrops:     Counter{81, true},
	}
	if c != want {
		t.Errorf("old kernel: got %+v, want %+v", c, want)
	}
}

func TestParseNetstatBad(t *testing.T) {
	for _, c := range []struct{ name, text, want string }{
		{"short", "TcpExt: ListenOverflows ListenDrops\nTcpExt: 1\n", "2 names and 1 values"},
		{"not a number", "TcpExt: ListenOverflows ListenDrops\nTcpExt: 1 x\n", "ListenDrops"},
		{"no values", "TcpExt: ListenOverflows ListenDrops\n", "names without values"},
		{"no section", "ListenOverflows 1\n", "no section name"},
		{"no TcpExt", "IpExt: InNoRoutes\nIpExt: 0\n", ErrNoTcpExt.Error()},
	} {
		_, err := ParseNetstat(strings.NewReader(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
	if _, err := ParseNetstat(strings.NewReader("IpExt: A\nIpExt: 0\n")); !errors.Is(err, ErrNoTcpExt) {
		t.Errorf("no TcpExt: %v does not wrap ErrNoTcpExt", err)
	}
}

func TestListenRates(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(2 * time.Second)
	prev := ListenCounters{ListenOverflows: Counter{10, true}, ListenDrops: Counter{50, true}, ReqQFullDrop: Counter{5, true}}
	cur := ListenCounters{ListenOverflows: Counter{16, true}, ListenDrops: Counter{40, true}, ReqQFullDrop: Counter{5, true}, ReqQFullDoCookies: Counter{3, true}}
	r := cur.Rates(&prev, t0, t1)
	if r.ListenOverflows != (CounterRate{3, true}) {
		t.Errorf("ListenOverflows rate %+v, want 3/s", r.ListenOverflows)
	}
	if r.ListenDrops.Known {
		t.Errorf("a counter that went backwards has no rate, got %+v", r.ListenDrops)
	}
	if r.ReqQFullDrop != (CounterRate{0, true}) {
		t.Errorf("an unchanged counter is 0/s, got %+v", r.ReqQFullDrop)
	}
	if r.ReqQFullDoCookies.Known {
		t.Errorf("a counter the earlier reading lacked has no rate, got %+v", r.ReqQFullDoCookies)
	}
	if !r.Any() {
		t.Error("Any: 3/s overflows is not nothing")
	}
	if z := cur.Rates(&prev, t1, t1); z.ListenOverflows.Known || z.Any() {
		t.Errorf("no time between readings: %+v", z)
	}
	if z := prev.Rates(&prev, t0, t1); z.Any() {
		t.Errorf("nothing moved: %+v", z)
	}
}
