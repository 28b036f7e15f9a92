//go:build !linux

package probe

// FreePort fails with ErrUnsupported outside Linux.
func FreePort() (uint16, error) { return 0, ErrUnsupported }

// PortInUse fails with ErrUnsupported outside Linux.
func PortInUse(port uint16) (bool, error) { return false, ErrUnsupported }
