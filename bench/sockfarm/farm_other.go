//go:build !linux

package main

import (
	"errors"
	"time"
)

var errNotLinux = errors.New("sockfarm: needs Linux (raw sockets on loopback, sock_diag)")

type options struct {
	n              int
	tw             float64
	fdLimit        int
	watchStdin     bool
	readyTimeout   time.Duration
	printListeners bool
}

func run(options) error { return errNotLinux }

func runChild(int, int) error { return errNotLinux }
