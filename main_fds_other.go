//go:build !unix

package main

// fdLimit is unknown here.
func fdLimit() (uint64, bool) { return 0, false }

// checkFDs has no limit to check here.
func checkFDs() error { return nil }
