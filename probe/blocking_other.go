//go:build !linux

package probe

import (
	"fmt"
	"syscall"
	"time"
)

// AcceptBlocking fails with ErrUnsupported outside Linux.
func (e *Endpoint) AcceptBlocking(name string) (*Blocked, error) { return nil, ErrUnsupported }

// WaitInKernel fails with ErrUnsupported outside Linux.
func (b *Blocked) WaitInKernel(timeout time.Duration) error { return ErrUnsupported }

// PollString names poll(2) event bits; outside Linux it gives them in hex.
func PollString(ev int16) string { return fmt.Sprintf("%#x", uint16(ev)) }

// Poll fails with ErrUnsupported outside Linux.
func (e *Endpoint) Poll(events int16, timeout time.Duration) (int16, error) {
	return 0, ErrUnsupported
}

// SockError fails with ErrUnsupported outside Linux.
func (e *Endpoint) SockError() (syscall.Errno, error) { return 0, ErrUnsupported }
