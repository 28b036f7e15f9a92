//go:build !linux

package collect

import "fmt"

// ownNetNS is 0 where there are no network namespaces.
func ownNetNS() uint32 { return 0 }

// ResolveNetNS fails where there are no network namespaces.
func ResolveNetNS(arg string) (string, error) {
	return "", fmt.Errorf("collect: network namespace %q: %w", arg, ErrUnsupported)
}
