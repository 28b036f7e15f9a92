//go:build linux

package events

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"socktop/collect"
	"socktop/internal/kerneltest"
)

// BenchmarkBPFEvents makes b.N loopback connections (connect, accept,
// close both ends: about a dozen state changes each) with the BPF reader
// running, and reports what the events cost: the program's time in the
// kernel per run (kernel.bpf_stats_enabled), the reader goroutine's CPU
// per event read, the events read per second of the run, and losses.
//
//	go test -run '^$' -bench BPFEvents -benchtime 20000x ./collect/events
func BenchmarkBPFEvents(b *testing.B) {
	needRoot(b)
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enabling BPF run-time statistics: %v", err)
	}
	defer stats.Close()
	r, err := openBPFSize(defaultRingSize)
	if err != nil {
		b.Fatal(err)
	}
	var events atomic.Uint64
	var mu sync.Mutex
	var readerCPU time.Duration
	done := make(chan error, 1)
	go func() {
		// One OS thread, so RUSAGE_THREAD is the reader's own CPU.
		runtime.LockOSThread()
		start := threadCPU()
		done <- r.run(func(evs []collect.StateEvent) {
			events.Add(uint64(len(evs)))
			d := threadCPU() - start
			mu.Lock()
			readerCPU = d
			mu.Unlock()
		})
	}()
	defer func() {
		r.close()
		<-done
	}()

	var lcfg net.ListenConfig
	lcfg.SetMultipathTCP(false)
	l, err := lcfg.Listen(context.Background(), "tcp4", netip.AddrPortFrom(kerneltest.Addr4, 0).String())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr := l.Addr().String()
	s0, err := r.prog.Stats()
	if err != nil {
		b.Fatal(err)
	}
	ev0, lost0 := events.Load(), r.lost()
	start := time.Now()
	b.ResetTimer()
	for range b.N {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	// Until the reader has caught up: the ring buffer empty.
	for r.available() > 0 {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	elapsed := time.Since(start)
	s1, err := r.prog.Stats()
	if err != nil {
		b.Fatal(err)
	}
	n := events.Load() - ev0
	if n == 0 {
		b.Fatal("no events read")
	}
	mu.Lock()
	cpu := readerCPU
	mu.Unlock()
	runs := s1.RunCount - s0.RunCount
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "reader-ns/event")
	if runs > 0 {
		b.ReportMetric(float64((s1.Runtime-s0.Runtime).Nanoseconds())/float64(runs), "prog-ns/run")
	}
	b.ReportMetric(float64(r.lost()-lost0), "lost")
}

// threadCPU is the calling OS thread's user and system time.
func threadCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecodeRecord is the user-space share of one event: a ring
// buffer record to a StateEvent.
func BenchmarkDecodeRecord(b *testing.B) {
	rec := record(unix.AF_INET6, net6("::1"), net6("::1"), 40000, 80, 1, 4)
	clk := newClock()
	var names commNames
	var e collect.StateEvent
	for b.Loop() {
		e, _ = decodeRecord(clk, &names, rec)
	}
	_ = e
}
