package ui

import (
	"testing"

	"socktop/internal/kerneltest"
)

// TestMain runs the suite with loopback up, and lets a test run in a
// network namespace of its own (see kerneltest.Main).
func TestMain(m *testing.M) { kerneltest.Main(m) }
