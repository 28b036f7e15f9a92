package collect

import (
	"os"
	"testing"
)

func TestSockstatCountFixture(t *testing.T) {
	v4, err := os.ReadFile("testdata/sockstat.txt")
	if err != nil {
		t.Fatal(err)
	}
	v6, err := os.ReadFile("testdata/sockstat6.txt")
	if err != nil {
		t.Fatal(err)
	}
	// TCP inuse + tw + UDP inuse + TCP6 inuse + UDP6 inuse; not UDPLITE,
	// RAW or the "sockets: used" line, which counts every socket.
	if got, want := sockstatCount(v4, v6), 34998+30000+7+35003+2; got != want {
		t.Fatalf("sockstatCount = %d, want %d", got, want)
	}
	if got := sockstatCount([]byte("garbage\nTCP: inuse x tw\n"), nil); got != 0 {
		t.Fatalf("garbage counted as %d", got)
	}
}

func TestParseSockCountersFixture(t *testing.T) {
	v4, err := os.ReadFile("testdata/sockstat.txt")
	if err != nil {
		t.Fatal(err)
	}
	v6, err := os.ReadFile("testdata/sockstat6.txt")
	if err != nil {
		t.Fatal(err)
	}
	var c SockCounters
	if !parseSockCounters(v4, true, &c) || !parseSockCounters(v6, false, &c) {
		t.Fatal("fixture not parsed")
	}
	if want := (SockCounters{TCPInUse: 34998, TCP6InUse: 35003, TCPTimeWait: 30000, UDPInUse: 7, UDP6InUse: 2}); c != want {
		t.Errorf("parsed %+v, want %+v", c, want)
	}
	for _, bad := range []string{"TCP: inuse x tw 1\nUDP: inuse 1\n", "TCP: inuse 1 tw\nUDP: inuse 1\n", "UDP: inuse 1\n", ""} {
		if parseSockCounters([]byte(bad), true, &c) {
			t.Errorf("%q parsed", bad)
		}
	}
}
