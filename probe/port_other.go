//go:build !linux

package probe

// FreePort fails with ErrUnsupported outside Linux.
func FreePort() (uint16, error) { return 0, ErrUnsupported }
