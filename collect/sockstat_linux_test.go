package collect

import (
	"net"
	"testing"
)

// The estimate follows the real kernel: 1000 more listeners raise it by
// exactly 1000. The counters are the whole network namespace's, which any
// program on a real host moves, so the test runs in a namespace of its own.
func TestSockstatEstimateFollowsKernel(t *testing.T) {
	if !inQuietNetns(t) {
		return
	}
	before := sockstatEstimate()
	for range 1000 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
	}
	after := sockstatEstimate()
	if after-before != 1000 {
		t.Fatalf("estimate went from %d to %d after opening 1000 listeners", before, after)
	}
}
