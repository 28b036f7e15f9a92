package demo

import (
	"errors"
	"testing"

	"socktop/probe"
)

// A run with a byte count writes whole buffers until it has written at
// least that much, and all of it is read.
func TestPipeRunBytes(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1000, 64 << 10, 512 << 10} {
		n, d, err := pipeRun(transfer{size: size, bytes: 300 << 10, stopped: func() bool { return false }})
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if n < 300<<10 || n%int64(size) != 0 || d <= 0 {
			t.Errorf("size %d: %d bytes in %v; want whole buffers, at least %d", size, n, d, 300<<10)
		}
	}
}

// A stopped run ends with ErrStopped instead of writing on.
func TestTimedTransferStopped(t *testing.T) {
	t.Parallel()
	_, _, err := pipeRun(transfer{size: 64 << 10, bytes: 1 << 50, stopped: func() bool { return true }})
	if !errors.Is(err, probe.ErrStopped) {
		t.Errorf("stopped transfer: error = %v, want ErrStopped", err)
	}
	if _, _, err := pipeRun(transfer{size: 0, stopped: func() bool { return false }}); !errors.Is(err, probe.ErrBadArgument) {
		t.Errorf("size 0: error = %v, want ErrBadArgument", err)
	}
}
