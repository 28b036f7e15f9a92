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

// The estimate follows the real kernel: 300 more listeners raise it by at
// least 300 (other tests may add sockets concurrently, never fewer).
func TestSockstatEstimateFollowsKernel(t *testing.T) {
	before := sockstatEstimate()
	for range 300 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
	}
	after := sockstatEstimate()
	if after-before < 250 {
		// Parallel tests can close sockets meanwhile; 250 leaves room for that.
		t.Fatalf("estimate went from %d to %d after opening 300 listeners", before, after)
	}
}
