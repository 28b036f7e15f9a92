package collect

import (
	"net"
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

// The estimate follows the real kernel: 1000 more listeners raise it by
// about 1000. The counters are host-wide, so other tests and a churning
// socket farm move them too; half the expected rise leaves room for that.
func TestSockstatEstimateFollowsKernel(t *testing.T) {
	before := sockstatEstimate()
	for range 1000 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
	}
	after := sockstatEstimate()
	if after-before < 500 {
		t.Fatalf("estimate went from %d to %d after opening 1000 listeners", before, after)
	}
}
