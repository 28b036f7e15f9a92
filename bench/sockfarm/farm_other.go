//go:build !linux

package main

import "errors"

var errNotLinux = errors.New("sockfarm: needs Linux (raw sockets on loopback, sock_diag)")

func run(options) error { return errNotLinux }

func runChild(int, int, int) error { return errNotLinux }
