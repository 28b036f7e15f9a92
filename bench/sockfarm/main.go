// Command sockfarm builds a TCP socket table of a given size on loopback,
// for benchmarks of socket inspectors: established pairs over IPv4 and
// IPv6, a steady fraction of TIME_WAIT sockets and a few listeners, all on
// 127.77.0.0/16 and ::1. It prints "ready N" when `ss -tan` shows the N
// sockets and holds them until SIGINT, SIGTERM or the end of stdin.
//
//	go run ./bench/sockfarm -n 100000 -tw 0.3
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

// options are the farm's flags, on every platform, so that main parses
// them the same everywhere.
type options struct {
	n            int
	tw           float64
	fdLimit      int
	watchStdin   bool
	readyTimeout time.Duration
	// keepFreeMiB is the memory the farm leaves available (0: the
	// default of memHeadroom).
	keepFreeMiB int64
	// printListeners lists the listening addresses on stdout before
	// "ready", so that a caller can pick the farm's sockets out of ss.
	printListeners bool
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 1000, "sockets to hold, counted as `ss -tan` lines: established endpoints + TIME_WAIT + listeners")
	flag.Float64Var(&o.tw, "tw", 0.3, "fraction of the sockets in TIME_WAIT")
	flag.IntVar(&o.fdLimit, "fd-limit", 0, "use at most this many descriptors per process (0: as many as RLIMIT_NOFILE can be raised to); lower values spread the pairs over child processes")
	flag.BoolVar(&o.watchStdin, "stdin", true, "stop when stdin reaches end of file (use -stdin=false when stdin is /dev/null)")
	flag.DurationVar(&o.readyTimeout, "ready-timeout", 60*time.Second, "how long to wait for ss to show the whole table")
	flag.Int64Var(&o.keepFreeMiB, "keep-free", 0, "MiB of memory to leave available: the table is planned to leave it, and the farm stops if MemAvailable falls below it (0: a quarter of memory, at least 4096)")
	flag.BoolVar(&o.printListeners, "print-listeners", false, "print \"listen ADDR:PORT\" for every listener on stdout before \"ready\"")
	isChild := flag.Bool("child", false, "internal: run as a child holding -pairs4 and -pairs6 pairs")
	pairs4 := flag.Int("pairs4", 0, "internal: IPv4 pairs of a child")
	pairs6 := flag.Int("pairs6", 0, "internal: IPv6 pairs of a child")
	index := flag.Int("index", 0, "internal: the child's number, which picks its client address")
	flag.Parse()
	var err error
	if *isChild {
		err = runChild(*index, *pairs4, *pairs6)
	} else {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
