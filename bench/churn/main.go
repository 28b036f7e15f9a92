// Command churn makes loopback TCP connections at a steady rate, or as
// fast as it can, for the event-layer benchmark (bench/events.sh). Each
// connection is connected, accepted, and closed politely, the client
// first: about ten state changes (client SYN_SENT, ESTABLISHED,
// FIN_WAIT_1, FIN_WAIT_2, CLOSED; server SYN_RECV, ESTABLISHED,
// CLOSE_WAIT, LAST_ACK, CLOSED), so -rate 1000 is about 10k transitions a
// second. With -rst the client aborts instead (SO_LINGER 0): six changes,
// and no TIME_WAIT left behind.
//
// The servers listen on -addrs addresses of 127.89.0.0/16, so that the
// TIME_WAIT sockets a polite close leaves (a minute each) spread over as
// many ephemeral port ranges. churn prints "ready" once it listens, a
// line a second with the connections made in it, and a total on exit
// (SIGINT, SIGTERM, or -duration).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	rate := flag.Int("rate", 1000, "connections per `second`; 0 is as fast as -workers can go")
	workers := flag.Int("workers", 4, "connecting goroutines")
	addrs := flag.Int("addrs", 16, "server addresses (127.89.0.1 up), each with its own listener")
	dur := flag.Duration("duration", 0, "stop after `D` (default: on SIGINT or SIGTERM)")
	rst := flag.Bool("rst", false, "abort each connection (RST, no TIME_WAIT) instead of closing it")
	flag.Parse()
	if *rate < 0 || *workers < 1 || *addrs < 1 || *addrs > 250 {
		fmt.Fprintln(os.Stderr, "churn: -rate >= 0, -workers >= 1, 1 <= -addrs <= 250")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}
	if err := run(ctx, *rate, *workers, *addrs, *rst); err != nil {
		fmt.Fprintf(os.Stderr, "churn: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, rate, workers, naddrs int, rst bool) error {
	var lns []*net.TCPListener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range naddrs {
		a := netip.AddrFrom4([4]byte{127, 89, 0, byte(1 + i)})
		ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
		if err != nil {
			return err
		}
		lns = append(lns, ln)
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(ln)
		}()
	}

	var made, failed atomic.Uint64
	// The pacer hands out one token per connection; at -rate 0 the
	// workers never wait for one.
	var tokens chan struct{}
	if rate > 0 {
		tokens = make(chan struct{}, workers)
		wg.Add(1)
		go func() {
			defer wg.Done()
			pace(ctx, rate, tokens)
		}()
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := w; ctx.Err() == nil; n += workers {
				if tokens != nil {
					select {
					case <-ctx.Done():
						return
					case <-tokens:
					}
				}
				if err := connect(lns[n%len(lns)].Addr().String(), rst); err != nil {
					failed.Add(1)
					continue
				}
				made.Add(1)
			}
		}()
	}
	fmt.Println("ready")
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last uint64
	for {
		select {
		case <-ctx.Done():
			for _, ln := range lns {
				ln.Close()
			}
			el := time.Since(start).Seconds()
			fmt.Printf("total %d connections in %.1fs (%.0f/s), %d failed\n", made.Load(), el, float64(made.Load())/el, failed.Load())
			return nil
		case <-tick.C:
			n := made.Load()
			fmt.Printf("%d connections/s, %d failed so far\n", n-last, failed.Load())
			last = n
		}
	}
}

// pace sends rate tokens a second in ticks of 10ms, carrying the
// fraction, so that rates that are not multiples of 100 come out right.
func pace(ctx context.Context, rate int, tokens chan<- struct{}) {
	const step = 10 * time.Millisecond
	tick := time.NewTicker(step)
	defer tick.Stop()
	start := time.Now()
	sent := 0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			due := int(now.Sub(start).Seconds() * float64(rate))
			for ; sent < due; sent++ {
				select {
				case tokens <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}
}

// connect makes one connection and closes it, the client first; the
// server's side closes when it reads the client's FIN.
func connect(addr string, rst bool) error {
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		return err
	}
	if rst {
		c.(*net.TCPConn).SetLinger(0)
	} else {
		// Wait for the server's one byte, so that the server end is
		// accepted and ESTABLISHED before the client closes, as in a real
		// exchange.
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil {
			c.Close()
			return err
		}
	}
	return c.Close()
}

// serve accepts connections until ln is closed; each gets one byte and is
// closed once the peer has closed (or reset) its end.
func serve(ln *net.TCPListener) {
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go func() {
			defer c.Close()
			c.Write([]byte{1})
			var b [16]byte
			for {
				if _, err := c.Read(b[:]); err != nil {
					return
				}
			}
		}()
	}
}
