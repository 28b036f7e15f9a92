package collect

import (
	"testing"

	"socktop/internal/kerneltest"
)

// TestMain runs the suite with loopback up, in a namespace of its own
// when this one has lo down (see kerneltest.Main).
func TestMain(m *testing.M) { kerneltest.Main(m) }

// inQuietNetns runs the calling test alone in a network namespace of its
// own (see kerneltest.InQuietNetns).
func inQuietNetns(t *testing.T) bool {
	t.Helper()
	return kerneltest.InQuietNetns(t)
}
