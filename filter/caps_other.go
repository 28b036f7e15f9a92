//go:build !linux

package filter

// netAdmin reports whether the kernel would take a program that reads
// marks; there is no inet_diag here.
func netAdmin() bool { return false }
