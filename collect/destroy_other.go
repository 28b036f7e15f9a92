//go:build !linux

package collect

import (
	"context"
	"fmt"
)

// Destroy kills a socket on Linux (SOCK_DESTROY); here it always fails
// with an error wrapping ErrUnsupported.
func Destroy(ctx context.Context, s *Socket) error {
	return fmt.Errorf("collect: kill %s: SOCK_DESTROY is Linux only: %w", describeKill(s), ErrUnsupported)
}
