package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

var errFarm = errors.New("sockfarm")

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func readSysctl(name string) string {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// checkSysctls tells the user when the kernel's settings constrain the
// requested table.
func checkSysctls(p farmPlan) {
	tw := p.Shards[0].TW4 + p.Shards[0].TW6
	if v, err := strconv.Atoi(readSysctl("net.ipv4.tcp_max_tw_buckets")); err == nil {
		if tw > v/2 {
			logf("sockfarm: note: %d TIME_WAIT sockets use over half of net.ipv4.tcp_max_tw_buckets=%d, which every process on the host shares", tw, v)
		}
	}
	if f := strings.Fields(readSysctl("net.ipv4.ip_local_port_range")); len(f) == 2 {
		lo, _ := strconv.Atoi(f[0])
		hi, _ := strconv.Atoi(f[1])
		if hi >= clientPortLo {
			logf("sockfarm: note: ip_local_port_range %d-%d overlaps the farm's client ports %d-%d: the farm skips ports that are taken, and other programs have fewer ephemeral ports while it runs", lo, hi, clientPortLo, clientPortHi)
		} else {
			logf("sockfarm: ip_local_port_range %d-%d does not constrain the table: clients bind explicit ports %d-%d", lo, hi, clientPortLo, clientPortHi)
		}
	}
}

// raiseNofile raises RLIMIT_NOFILE towards want (root may raise the hard
// limit up to fs.nr_open) and returns the soft limit in force.
func raiseNofile(want int) int {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 1024
	}
	if uint64(want) <= r.Cur {
		return int(r.Cur)
	}
	n := uint64(want)
	if n > r.Max {
		if nr, err := strconv.ParseUint(readSysctl("fs.nr_open"), 10, 64); err == nil && n > nr {
			n = nr
		}
		try := unix.Rlimit{Cur: n, Max: n}
		if unix.Setrlimit(unix.RLIMIT_NOFILE, &try) == nil {
			return int(n)
		}
		n = r.Max
	}
	try := unix.Rlimit{Cur: n, Max: r.Max}
	if unix.Setrlimit(unix.RLIMIT_NOFILE, &try) == nil {
		return int(n)
	}
	return int(r.Cur)
}

// child is a shard running in another process (a re-exec of this binary).
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addrs []netip.AddrPort
	built chan error
}

func startChild(p shardPlan, index int) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("%w: find own binary: %w", errFarm, err)
	}
	cmd := exec.Command(self, "-child", "-index", strconv.Itoa(index), "-pairs4", strconv.Itoa(p.Pairs4), "-pairs6", strconv.Itoa(p.Pairs6))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errFarm, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errFarm, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: start child: %w", errFarm, err)
	}
	c := &child{cmd: cmd, stdin: stdin, built: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 2 && f[0] == "listen":
				if ap, err := netip.ParseAddrPort(f[1]); err == nil {
					c.addrs = append(c.addrs, ap)
				}
			case len(f) == 1 && f[0] == "built":
				c.built <- nil
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
		}
		c.built <- fmt.Errorf("%w: child %d ended before its sockets were built", errFarm, cmd.Process.Pid)
	}()
	return c, nil
}

// stop asks the child to close its sockets (end of its stdin) and waits
// for it to exit.
func (c *child) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// stopCh is closed when the farm is asked to stop: SIGINT, SIGTERM or
// SIGHUP (a child gets SIGTERM when its parent dies), or the end of stdin.
// The builds watch it too, so a farm stopped half-built still resets
// its pairs instead of leaving them to the kernel's FIN exchange (which
// would flood the host's TIME_WAIT buckets).
var (
	stopCh   = make(chan struct{})
	stopOnce sync.Once
)

func requestStop() { stopOnce.Do(func() { close(stopCh) }) }

// stopping says whether the farm was asked to stop.
func stopping() bool {
	select {
	case <-stopCh:
		return true
	default:
		return false
	}
}

// errStopped ends a build that a stop request interrupted.
var errStopped = fmt.Errorf("%w: stopped while building", errFarm)

// watchStop starts the watchers that close stopCh. It is called first
// thing, so that no signal can kill the process without cleanup.
func watchStop(watchStdin bool) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() { <-sig; requestStop() }()
	if watchStdin {
		go func() { _, _ = io.Copy(io.Discard, os.Stdin); requestStop() }()
	}
}

// runChild builds one shard of pairs, reports its listeners and "built" on
// stdout, and holds the sockets until stdin closes or a signal arrives.
func runChild(index, pairs4, pairs6 int) error {
	watchStop(true)
	setClientAddr(index)
	p := shardPlan{Pairs4: pairs4, Pairs6: pairs6}
	raiseNofile(p.fds() + fdReserve)
	s := &shard{plan: p}
	if err := s.build(); err != nil {
		return err
	}
	w := bufio.NewWriter(os.Stdout)
	for _, a := range s.listeners() {
		fmt.Fprintf(w, "listen %v\n", a)
	}
	fmt.Fprintln(w, "built")
	if err := w.Flush(); err != nil {
		s.close()
		return fmt.Errorf("%w: report to parent: %w", errFarm, err)
	}
	<-stopCh
	return s.close()
}

// countOwn runs `ss -tanH` and counts the lines that belong to this farm:
// its listeners, the sockets accepted on them, and the client ends
// (established or TIME_WAIT) connected to them.
func countOwn(listen map[netip.AddrPort]bool) (int, error) {
	out, err := exec.Command("ss", "-tanH").Output()
	if err != nil {
		return 0, fmt.Errorf("%w: ss -tanH: %w", errFarm, err)
	}
	return countLines(out, listen), nil
}

func countLines(out []byte, listen map[netip.AddrPort]bool) int {
	n := 0
	for line := range bytes.Lines(out) {
		f := strings.Fields(string(line))
		if len(f) < 5 {
			continue
		}
		local, err1 := netip.ParseAddrPort(f[3])
		peer, err2 := netip.ParseAddrPort(f[4])
		if err1 != nil {
			continue
		}
		if listen[local] {
			n++
			continue
		}
		if err2 != nil || !listen[peer] || local.Port() < clientPortLo {
			continue
		}
		if clientNet4.Contains(local.Addr()) || local.Addr() == loop6 {
			n++
		}
	}
	return n
}

func run(o options) error {
	watchStop(o.watchStdin)
	// The host decides how large the table can be: free tw buckets,
	// memory, open files. What shrinks it is logged with the word LIMIT,
	// which the benchmark scripts copy into their record.
	twN := int(math.Round(float64(o.n) * o.tw))
	if o.tw < 0 || o.tw >= 1 || math.IsNaN(o.tw) {
		return fmt.Errorf("%w: TIME_WAIT fraction %v is not in [0,1)", errPlan, o.tw)
	}
	h := readHostLimits()
	h.keepFree = o.keepFreeMiB << 20
	fit := fitHost(o.n, twN, h)
	for _, l := range fit.limits {
		logf("sockfarm: LIMIT %s", l)
	}
	guardMemory(h.keepFree, logf)
	// Plan once with the most the kernel could allow, raise the limit to
	// what that plan needs, and plan again with what was granted.
	nrOpen, _ := strconv.Atoi(readSysctl("fs.nr_open"))
	if nrOpen <= 0 {
		nrOpen = 1 << 20
	}
	ideal, err := makePlanCount(fit.n, fit.tw, nrOpen)
	if err != nil {
		return err
	}
	want := ideal.Shards[0].fds() + fdReserve
	limit := raiseNofile(want)
	if limit < want {
		logf("sockfarm: RLIMIT_NOFILE stays at %d (raising it needs CAP_SYS_RESOURCE; fs.nr_open=%d): spreading the pairs over child processes", limit, nrOpen)
	}
	if o.fdLimit > 0 && o.fdLimit < limit {
		limit = o.fdLimit
	}
	p, err := makePlanCount(fit.n, fit.tw, limit)
	if err != nil {
		return err
	}
	checkSysctls(p)
	logf("sockfarm: %d sockets: %d TIME_WAIT, %d established pairs, %d listeners, %d process(es), open-file limit %d",
		p.total(), p.Shards[0].TW4+p.Shards[0].TW6, pairsOf(p), listenersOf(p), len(p.Shards), limit)

	start := time.Now()
	var children []*child
	stopAll := func(s *shard) {
		// Every child is told at once, then waited for: each resets its
		// own pairs.
		var wg sync.WaitGroup
		for _, c := range children {
			wg.Go(c.stop)
		}
		wg.Wait()
		if s != nil {
			if err := s.close(); err != nil {
				logf("sockfarm: cleanup: %v", err)
			}
		}
	}
	for i, sp := range p.Shards[1:] {
		if stopping() {
			stopAll(nil)
			return errStopped
		}
		c, err := startChild(sp, i+1)
		if err != nil {
			stopAll(nil)
			return err
		}
		children = append(children, c)
	}
	s := &shard{plan: p.Shards[0]}
	buildErr := s.build()
	for _, c := range children {
		select {
		case err := <-c.built:
			buildErr = errors.Join(buildErr, err)
		case <-stopCh:
		}
	}
	if buildErr == nil && stopping() {
		buildErr = errStopped
	}
	if buildErr != nil {
		stopAll(s)
		return buildErr
	}
	s.startChurn(logf)

	listen := map[netip.AddrPort]bool{}
	for _, a := range s.listeners() {
		listen[a] = true
	}
	for _, c := range children {
		for _, a := range c.addrs {
			listen[a] = true
		}
	}
	got, err := countOwn(listen)
	deadline := time.Now().Add(o.readyTimeout)
	for err == nil && got != p.total() && time.Now().Before(deadline) && !stopping() {
		time.Sleep(200 * time.Millisecond)
		got, err = countOwn(listen)
	}
	if err == nil && stopping() {
		err = errStopped
	}
	if err != nil {
		stopAll(s)
		return err
	}
	if got != p.total() {
		logf("sockfarm: WARNING ss shows %d of the farm's sockets, the plan was %d", got, p.total())
	}
	logf("sockfarm: built in %v", time.Since(start).Round(time.Millisecond))
	if o.printListeners {
		for a := range listen {
			fmt.Printf("listen %v\n", a)
		}
	}
	fmt.Printf("ready %d\n", got)

	<-stopCh
	stopAll(s)
	logf("sockfarm: stopped")
	if guardTripped.Load() {
		return fmt.Errorf("%w: stopped by the memory guard", errFarm)
	}
	return nil
}

func pairsOf(p farmPlan) int {
	n := 0
	for _, s := range p.Shards {
		n += s.Pairs4 + s.Pairs6
	}
	return n
}

func listenersOf(p farmPlan) int {
	n := 0
	for _, s := range p.Shards {
		l4, l6 := s.listeners()
		n += l4 + l6
	}
	return n
}
