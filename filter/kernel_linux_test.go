//go:build linux

package filter

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"socktop/collect"
)

// TestBytecodeSelectsWhatMatchSelects is the property the kernel filter
// rests on: for random filters over a real table, the sockets the kernel
// lets through and Match then keeps are exactly those Match keeps from
// the whole table; and the kernel keeps what the program says, as the
// interpreter of the kernel's rules (bcRun) reads it. The table is the
// test's own zoo (listeners on IPv4, IPv6 and both, established pairs, a
// v4-mapped connection, a TIME_WAIT, UDP sockets); other programs'
// sockets come and go between the two dumps, so the comparison is over
// the test's own sockets, found by inode or exact 4-tuple.
func TestBytecodeSelectsWhatMatchSelects(t *testing.T) {
	p4, p6, own, _ := filterTestSockets(t)
	dual, dualConn := dualStackPair(t, own)
	bound := boundToLoopback(t, own)
	var marks bool
	var cgroups []string
	if os.Geteuid() == 0 {
		// Marks need CAP_NET_ADMIN; the root CI run has it.
		markedSockets(t, own)
		marks = true
	}
	if cg, why := tryCgroupChild(t, own); why == "" {
		cgroups = append(cgroups, cg)
	} else {
		t.Logf("no cgroup conditions on a cgroup of the test's own: %s", why)
	}
	if cg := ownCgroup(); cg != "" {
		cgroups = append(cgroups, cg)
	}
	socks := own.snapshot(t, func(s []collect.Socket) bool { return len(s) >= 13 })
	ports := []int{int(p4), int(p6), int(dual), dualConn, int(bound), 0, 1, 22, 1023, 1024, 32768, 65535}
	for _, s := range socks {
		ports = append(ports, int(s.Local.Port()), int(s.Remote.Port()))
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	g := &filterGen{r: rand.New(rand.NewPCG(seed, 1)), ports: ports, addr4: testAddr4.String(), marks: marks, cgroups: cgroups}
	whole := collect.NewNetlink(collect.Options{})
	t.Cleanup(func() { whole.Close() })
	narrowed, bounded := 0, 0
	for i := 0; i < 150; i++ {
		expr := g.expr(3)
		f, err := Parse(expr)
		if err != nil {
			t.Fatalf("generated %q does not parse: %v", expr, err)
		}
		kern := collect.NewNetlink(collect.Options{Kernel: f})
		ks, err := kern.Snapshot(context.Background())
		kern.Close()
		if err != nil {
			t.Fatalf("%q: kernel-filtered snapshot: %v", expr, err)
		}
		all, err := whole.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// The port bound the event sources drop by must hold every
		// socket the kernel's program sent, whoever made it.
		var bounds [2]collect.PortSet
		var hasBound [2]bool
		for k, proto := range []collect.Proto{collect.TCP, collect.UDP} {
			bounds[k], hasBound[k] = f.PortBound(proto)
			if hasBound[k] {
				bounded++
			}
		}
		inKernel := map[string]bool{}
		for j := range ks.Sockets {
			s := &ks.Sockets[j]
			k := 0
			if s.Proto == collect.UDP {
				k = 1
			}
			if hasBound[k] && !bounds[k].Has(s.Local.Port(), s.Remote.Port()) {
				t.Errorf("%q: the kernel sent %s, outside the port bound %s", expr, sockID(s), bounds[k].String())
			}
			if !f.Decides(s) {
				// Match keeps it, and the kernel's program could not be
				// run here for want of the field: nothing to compare.
				if own.has(s) {
					inKernel[sockID(s)] = true
				}
				continue
			}
			if !acceptedByProgram(f, s) {
				t.Errorf("%q: the kernel sent %s, which its program rejects", expr, sockID(s))
			}
			if own.has(s) {
				inKernel[sockID(s)] = true
			}
		}
		if len(ks.Sockets) < len(all.Sockets)/2 {
			narrowed++
		}
		for j := range all.Sockets {
			s := &all.Sockets[j]
			if !own.has(s) {
				continue
			}
			id := sockID(s)
			if !f.Decides(s) {
				continue
			}
			if f.Match(s) && !inKernel[id] {
				t.Errorf("%q: matches %s %s, which the kernel left out (program %x)", expr, id, s.State, f.Bytecode(s.Proto, 0))
			}
			if rejectedByProgram(f, s) && inKernel[id] {
				t.Errorf("%q: the kernel sent %s, which the program rejects", expr, id)
			}
		}
	}
	if narrowed == 0 {
		t.Error("no generated filter narrowed the dump: the bytecode never reached the kernel")
	}
	if bounded == 0 {
		t.Error("no generated filter had a port bound: the bound was never checked")
	}
	t.Logf("%d of 300 programs had a port bound", bounded)
}

// acceptedByProgram reports whether one of the programs the collector may
// have sent for s's dump accepts s: TCP dumps walk both families at once
// where the kernel allows it, or one family each otherwise.
func acceptedByProgram(f *Filter, s *collect.Socket) bool {
	for _, fam := range dumpFamilies(s) {
		if bc := f.Bytecode(s.Proto, fam); bc == nil || bcRun(bc, s) {
			return true
		}
	}
	return false
}

// rejectedByProgram reports whether every program the collector may have
// sent for s's dump rejects it.
func rejectedByProgram(f *Filter, s *collect.Socket) bool {
	for _, fam := range dumpFamilies(s) {
		if bc := f.Bytecode(s.Proto, fam); bc == nil || bcRun(bc, s) {
			return false
		}
	}
	return true
}

func dumpFamilies(s *collect.Socket) []uint8 {
	if s.Proto == collect.TCP {
		return []uint8{0, s.Family}
	}
	return []uint8{s.Family}
}

// bcRun runs a program as the kernel does (collect.RunBytecode, which
// this test holds to the kernel's own choices). An empty program accepts
// nothing here, as Bytecode's callers skip the dump.
func bcRun(bc []byte, s *collect.Socket) bool {
	yes, ok := collect.RunBytecode(bc, s)
	if !ok {
		panic(fmt.Sprintf("bcRun: a program the interpreter cannot run: %x", bc))
	}
	return yes
}

// dualStackPair adds a listener on [::] and a connection to it over
// IPv4, whose accepted end is an IPv6 socket with a v4-mapped address:
// the case where the kernel's family test and ours must agree. It returns
// the listener's port and the client's.
func dualStackPair(t *testing.T, own *ownSockets) (uint16, int) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv6unspecified})
	if err != nil {
		t.Skipf("no dual-stack listener here: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	own.add(t, ln)
	port := ln.Addr().(*net.TCPAddr).Port
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(testAddr4, 0))}
	c, err := d.Dial("tcp4", netip.AddrPortFrom(testAddr4, uint16(port)).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	own.add(t, c.(*net.TCPConn))
	own.add(t, s)
	return uint16(port), c.LocalAddr().(*net.TCPAddr).Port
}

// filterGen writes random filter expressions over the test's ports and
// addresses, with conditions the kernel can and cannot evaluate.
type filterGen struct {
	r     *rand.Rand
	ports []int
	addr4 string
	// marks: the table has marked sockets (markedSockets); cgroups: the
	// cgroups its sockets were made in.
	marks   bool
	cgroups []string
}

func (g *filterGen) port() string {
	return strconv.Itoa(g.ports[g.r.IntN(len(g.ports))])
}

func (g *filterGen) host() string {
	hosts := []string{g.addr4, g.addr4 + "/32", "127.0.0.0/8", "127/8", "10.0.0.0/8", "0.0.0.0/0",
		"::1", "[::1]", "::/0", "::ffff:" + g.addr4, "::ffff:0:0/96", "inet:" + g.addr4, "inet6:::1", "*"}
	h := hosts[g.r.IntN(len(hosts))]
	switch g.r.IntN(3) {
	case 0:
		return h
	case 1:
		if strings.Contains(h, "::") && !strings.HasPrefix(h, "[") && !strings.Contains(h, "/") {
			return "[" + strings.TrimPrefix(h, "inet6:") + "]:" + g.port()
		}
		if strings.Contains(h, "::") {
			return h
		}
		return h + ":" + g.port()
	}
	return "*:" + g.port()
}

func (g *filterGen) atom() string {
	ops := []string{"=", "!=", "<", ">", "<=", ">=", "eq", "gt"}
	switch g.r.IntN(15) {
	case 12:
		if g.marks {
			ms := []string{"0x5a", "0x1", "3", "0x5a00/0xff00", "0x1/0x1", "0", "0/0xffff0000", "0x7"}
			return "fwmark " + []string{"", "= ", "!= ", "== ", "neq "}[g.r.IntN(5)] + ms[g.r.IntN(len(ms))]
		}
	case 13:
		if len(g.cgroups) > 0 {
			return "cgroup " + []string{"", "= ", "!= "}[g.r.IntN(3)] + g.cgroups[g.r.IntN(len(g.cgroups))]
		}
	case 0, 1:
		return "sport " + ops[g.r.IntN(len(ops))] + " :" + g.port()
	case 2, 3:
		return "dport " + ops[g.r.IntN(len(ops))] + " :" + g.port()
	case 4:
		return "src " + g.host()
	case 5:
		return "dst " + g.host()
	case 6:
		return []string{"tcp", "udp", "inet", "inet6", "unix"}[g.r.IntN(5)]
	case 7:
		return "state " + []string{"established", "listening", "time-wait", "connected", "unconn"}[g.r.IntN(5)]
	case 8:
		return []string{"proc filter.test", "uid = 0", "pid 1", "uid > 1000"}[g.r.IntN(4)]
	case 11:
		return []string{"dev lo", "dev != lo", "dev = 1", "dev 0"}[g.r.IntN(4)]
	case 9:
		return "port " + []string{"=", "!=", "<", ">="}[g.r.IntN(4)] + " " + g.port()
	case 10:
		return g.port()
	}
	return "src != " + g.host()
}

// boundToLoopback adds a listener bound to the loopback device
// (SO_BINDTODEVICE, which needs CAP_NET_RAW: skipped without), the only
// kind of socket a dev condition selects; it returns its port.
func boundToLoopback(t *testing.T, own *ownSockets) uint16 {
	t.Helper()
	var serr error
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { serr = unix.BindToDevice(int(fd), "lo") })
	}}
	ln, err := lc.Listen(context.Background(), "tcp4", netip.AddrPortFrom(testAddr4, 0).String())
	if err == nil && serr != nil {
		ln.Close()
		err = serr
	}
	if err != nil {
		t.Skipf("no listener bound to lo (SO_BINDTODEVICE needs CAP_NET_RAW): %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	own.add(t, ln.(*net.TCPListener))
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

func (g *filterGen) expr(depth int) string {
	if depth == 0 || g.r.IntN(3) == 0 {
		return g.atom()
	}
	switch g.r.IntN(4) {
	case 0:
		return "not ( " + g.expr(depth-1) + " )"
	case 1:
		return "( " + g.expr(depth-1) + " ) or ( " + g.expr(depth-1) + " )"
	}
	return "( " + g.expr(depth-1) + " ) and ( " + g.expr(depth-1) + " )"
}

// TestDevAgreesWithSS checks "dev lo" against ss's own dev condition: the
// test's listener bound to lo is selected by both, and by the kernel's
// program, and its unbound sockets by neither.
func TestDevAgreesWithSS(t *testing.T) {
	own := newOwnSockets()
	boundToLoopback(t, own)
	filterTestSockets(t)
	f, err := Parse("dev lo")
	if err != nil {
		t.Fatal(err)
	}
	src := collect.NewNetlink(collect.Options{Kernel: f})
	defer src.Close()
	snap, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ours []collect.Socket
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		if !f.Match(s) {
			t.Errorf("the kernel sent %s (ifindex %d) for dev lo", sockID(s), s.Ifindex)
		}
		if own.has(s) {
			ours = append(ours, *s)
		}
	}
	if len(ours) != 1 {
		t.Fatalf("dev lo: the kernel sent %d of the test's sockets, want its one bound listener: %v", len(ours), ours)
	}
	out, err := exec.Command("ss", "-tanHe", "dev lo").Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	ino := "ino:" + strconv.FormatUint(uint64(ours[0].Inode), 10) + " "
	if !strings.Contains(string(out), ino) {
		t.Errorf("ss 'dev lo' does not list the bound listener (%s):\n%s", ino, out)
	}
}
