//go:build !linux

package probe

import "time"

// RecvMsgResult is what one recvmsg(2) gave.
type RecvMsgResult struct {
	// N is the call's return value.
	N int
	// Copied is how many bytes landed in the buffer.
	Copied int
	// Truncated is true when the kernel set MSG_TRUNC in msg_flags.
	Truncated bool
}

// RecvMsg fails with ErrUnsupported outside Linux.
func (e *Endpoint) RecvMsg(size int, trunc bool, timeout time.Duration) (RecvMsgResult, error) {
	return RecvMsgResult{}, ErrUnsupported
}

// SendTo fails with ErrUnsupported outside Linux.
func (e *Endpoint) SendTo(b []byte, port uint16) (int, error) { return 0, ErrUnsupported }

// SetRecvErr fails with ErrUnsupported outside Linux.
func (e *Endpoint) SetRecvErr(on bool) error { return ErrUnsupported }

// Pending fails with ErrUnsupported outside Linux.
func (e *Endpoint) Pending() (int, error) { return 0, ErrUnsupported }

// WaitPending fails with ErrUnsupported outside Linux.
func (e *Endpoint) WaitPending(n int, timeout time.Duration) (int, error) {
	return 0, ErrUnsupported
}

// RecvBuffer fails with ErrUnsupported outside Linux.
func (e *Endpoint) RecvBuffer(size int, timeout time.Duration) (int, error) {
	return 0, ErrUnsupported
}

// ReadN fails with ErrUnsupported outside Linux.
func (e *Endpoint) ReadN(n, size int, timeout time.Duration) ([]int, error) {
	return nil, ErrUnsupported
}

// WriteN fails with ErrUnsupported outside Linux.
func (e *Endpoint) WriteN(b []byte, timeout time.Duration) ([]int, error) {
	return nil, ErrUnsupported
}
