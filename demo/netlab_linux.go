package demo

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where named network namespaces live, as `ip netns` keeps
// them: a file per namespace, bind-mounted from the namespace itself.
const netnsDir = "/run/netns"

// labPrefix starts the name of every namespace (and the alias of every
// host-side veth end) a demo makes: socktop-demo-PID-RAND, so that a run
// killed before it could clean up is recognised by the next one.
const labPrefix = "socktop-demo-"

// labConfig says what a netLab's link is like.
type labConfig struct {
	// RateBits limits each direction of the link to this many bits per
	// second, with a tbf qdisc on the egress of both veth ends (the host
	// end shapes what the host sends into the namespace, the namespace
	// end what comes back, ACKs included); 0 leaves the link unlimited.
	RateBits uint64
	// PinNeighbour makes the host's neighbour entry for NSAddr permanent,
	// as `ip neigh replace ... nud permanent` does: with the far end down,
	// the host keeps sending to it instead of finding the neighbour gone
	// (which reports EHOSTUNREACH to the sockets using it).
	PinNeighbour bool
}

// netLab is a network namespace of a demo's own, joined to socktop's
// namespace by a veth pair with a private /30 on it: the host end has
// HostAddr, the namespace end NSAddr, both links are up, and traffic
// between the two addresses crosses the pair (and its qdiscs) rather than
// loopback. Sockets are made inside with probe's TCPIn(name, l.Path()).
// Close deletes it all; a Run closes the labs its steps made when it
// stops (see env.netLab).
type netLab struct {
	name     string
	path     string
	hostLink string
	nsLink   string
	hostAddr netip.Addr
	nsAddr   netip.Addr
	rate     uint64
	pinned   bool

	ns  netns.NsHandle
	nsh *netlink.Handle // netlink inside the namespace

	closeOnce sync.Once
	closeErr  error
}

// Name returns the namespace's name, as `ip netns list` shows it.
func (l *netLab) Name() string { return l.name }

// Path returns the namespace's file, for probe's TCPIn and UDPIn.
func (l *netLab) Path() string { return l.path }

// HostAddr returns the address of the host end of the veth pair.
func (l *netLab) HostAddr() netip.Addr { return l.hostAddr }

// NSAddr returns the address of the end inside the namespace.
func (l *netLab) NSAddr() netip.Addr { return l.nsAddr }

// HostLink returns the name of the host end of the veth pair.
func (l *netLab) HostLink() string { return l.hostLink }

// NSLink returns the name of the veth end inside the namespace.
func (l *netLab) NSLink() string { return l.nsLink }

// RateBits returns the link's rate limit in bits per second, 0 for none.
func (l *netLab) RateBits() uint64 { return l.rate }

// labAllowed says why this process cannot make a netLab, or "" when it
// can: a namespace needs CAP_SYS_ADMIN (unshare, the bind mount, setns)
// and the veth pair and qdiscs need CAP_NET_ADMIN.
func labAllowed() string {
	eff, ok := effectiveCaps()
	if !ok {
		if os.Geteuid() == 0 {
			return ""
		}
		return fmt.Sprintf("uid %d is not root", os.Geteuid())
	}
	var missing []string
	if eff&(1<<unix.CAP_SYS_ADMIN) == 0 {
		missing = append(missing, "CAP_SYS_ADMIN")
	}
	if eff&(1<<unix.CAP_NET_ADMIN) == 0 {
		missing = append(missing, "CAP_NET_ADMIN")
	}
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf("uid %d lacks %s", os.Geteuid(), strings.Join(missing, " and "))
}

// effectiveCaps reads this process's effective capability set.
func effectiveCaps() (uint64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// newNetLab makes the namespace, the veth pair, the addresses and the
// qdiscs, after removing what runs that were killed left behind. On
// error, whatever it made is gone again. Without the privileges it
// returns ErrNeedsRoot.
func newNetLab(cfg labConfig) (l *netLab, err error) {
	if why := labAllowed(); why != "" {
		return nil, fmt.Errorf("%w: a network namespace and a veth pair need CAP_SYS_ADMIN and CAP_NET_ADMIN: %s", ErrNeedsRoot, why)
	}
	removeStaleLabs()
	tag := fmt.Sprintf("%06x", rand.Uint32()&0xffffff)
	l = &netLab{
		name:     fmt.Sprintf("%s%d-%s", labPrefix, os.Getpid(), tag),
		hostLink: "sdh" + tag,
		nsLink:   "sdn" + tag,
		rate:     cfg.RateBits,
		pinned:   cfg.PinNeighbour,
		ns:       netns.None(),
	}
	l.path = filepath.Join(netnsDir, l.name)
	defer func() {
		if err != nil {
			l.Close()
			l = nil
		}
	}()
	if err := l.makeNS(); err != nil {
		return l, fmt.Errorf("demo lab: network namespace %s: %w", l.name, err)
	}
	if l.nsh, err = netlink.NewHandleAt(l.ns); err != nil {
		return l, fmt.Errorf("demo lab: netlink in %s: %w", l.name, err)
	}
	prefix, err := freeSlash30()
	if err != nil {
		return l, fmt.Errorf("demo lab: %w", err)
	}
	l.hostAddr = prefix.Addr().Next()
	l.nsAddr = l.hostAddr.Next()
	if err := l.makeLinks(prefix); err != nil {
		return l, fmt.Errorf("demo lab: veth %s-%s: %w", l.hostLink, l.nsLink, err)
	}
	return l, nil
}

// makeNS creates the namespace and names it, as `ip netns add` does, on
// a locked thread that goes back to socktop's namespace before it is
// unlocked (or, if it cannot, is retired with its goroutine).
func (l *netLab) makeNS() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	type result struct {
		ns  netns.NsHandle
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{netns.None(), err}
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{netns.None(), fmt.Errorf("unshare: %w", err)}
			return
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		merr := unix.Mount(self, l.path, "none", unix.MS_BIND, "")
		if err := netns.Set(orig); err != nil {
			// This thread stays in the new namespace: end the goroutine
			// locked so Go retires the thread.
			done <- result{netns.None(), fmt.Errorf("back from the new namespace: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		if merr != nil {
			done <- result{netns.None(), fmt.Errorf("bind mount on %s: %w", l.path, merr)}
			return
		}
		ns, err := netns.GetFromPath(l.path)
		done <- result{ns, err}
	}()
	r := <-done
	l.ns = r.ns
	return r.err
}

// makeLinks creates the veth pair with its far end in the namespace,
// gives both ends an address of prefix, brings them up and adds the
// qdiscs.
func (l *netLab) makeLinks(prefix netip.Prefix) error {
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: l.hostLink},
		PeerName:      l.nsLink,
		PeerNamespace: netlink.NsFd(int(l.ns)),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("add: %w", err)
	}
	host, err := netlink.LinkByName(l.hostLink)
	if err != nil {
		return err
	}
	// The alias names the namespace, so a run killed before its Close
	// still has its host end found and deleted by the next one.
	if err := netlink.LinkSetAlias(host, l.name); err != nil {
		return fmt.Errorf("alias: %w", err)
	}
	peer, err := l.nsh.LinkByName(l.nsLink)
	if err != nil {
		return fmt.Errorf("the namespace end: %w", err)
	}
	bits := prefix.Bits()
	hostNet := &net.IPNet{IP: l.hostAddr.AsSlice(), Mask: net.CIDRMask(bits, 32)}
	nsNet := &net.IPNet{IP: l.nsAddr.AsSlice(), Mask: net.CIDRMask(bits, 32)}
	if err := netlink.AddrAdd(host, &netlink.Addr{IPNet: hostNet}); err != nil {
		return fmt.Errorf("address %s: %w", hostNet, err)
	}
	if err := l.nsh.AddrAdd(peer, &netlink.Addr{IPNet: nsNet}); err != nil {
		return fmt.Errorf("address %s: %w", nsNet, err)
	}
	if l.rate > 0 {
		if err := netlink.QdiscAdd(tbfFor(host.Attrs().Index, l.rate)); err != nil {
			return fmt.Errorf("tbf on %s: %w", l.hostLink, err)
		}
		if err := l.nsh.QdiscAdd(tbfFor(peer.Attrs().Index, l.rate)); err != nil {
			return fmt.Errorf("tbf on %s: %w", l.nsLink, err)
		}
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("up %s: %w", l.hostLink, err)
	}
	if err := l.nsh.LinkSetUp(peer); err != nil {
		return fmt.Errorf("up %s: %w", l.nsLink, err)
	}
	if err := l.waitUp(); err != nil {
		return err
	}
	if l.pinned {
		n := &netlink.Neigh{LinkIndex: host.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
			IP: l.nsAddr.AsSlice(), HardwareAddr: peer.Attrs().HardwareAddr}
		if err := netlink.NeighSet(n); err != nil {
			return fmt.Errorf("neighbour %s: %w", l.nsAddr, err)
		}
	}
	if lo, err := l.nsh.LinkByName("lo"); err == nil {
		// Not needed for the pair, but a namespace with lo down surprises
		// whoever looks inside with ip netns exec.
		_ = l.nsh.LinkSetUp(lo)
	}
	return nil
}

// waitUp waits until both ends are operationally up. The kernel attaches
// a link's queueing discipline only once it sees the carrier, a moment
// after the link is set up; what is sent before is dropped, which would
// cost a first connect a SYN retransmission (1 s).
func (l *netLab) waitUp() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		host, err := netlink.LinkByName(l.hostLink)
		if err != nil {
			return err
		}
		peer, err := l.nsh.LinkByName(l.nsLink)
		if err != nil {
			return err
		}
		if host.Attrs().OperState == netlink.OperUp && peer.Attrs().OperState == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("links not up after 5 s: %s %s, %s %s", l.hostLink, host.Attrs().OperState, l.nsLink, peer.Attrs().OperState)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tbfBurst is the token bucket's depth: a few full-size frames, so the
// bucket neither starves a single segment nor lets a long burst through.
const tbfBurst = 16 << 10

// tbfLatency is how long a packet may wait in the tbf queue before it is
// dropped; it sets the queue's byte limit at rate*latency + burst, as
// tc's `latency 50ms` does.
const tbfLatencyMs = 50

// tbfFor is the root tbf qdisc of link index at bits per second: what
// `tc qdisc add dev D root tbf rate R burst 16k latency 50ms` makes.
func tbfFor(index int, bits uint64) *netlink.Tbf {
	rate := bits / 8 // tbf counts bytes per second
	return &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
		Rate:       rate,
		Limit:      uint32(rate*tbfLatencyMs/1000) + tbfBurst,
		Buffer:     netlink.Xmittime(rate, tbfBurst),
	}
}

// freeSlash30 picks a random 10.x.y.z/30 that no address or route of
// socktop's namespace overlaps, so the pair's traffic can only go over
// the pair; a host whose routes cover all of 10/8 gets one of
// 169.254/16 instead.
func freeSlash30() (netip.Prefix, error) {
	var used []netip.Prefix
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		// The default route (no Dst, or 0.0.0.0/0) covers everything by
		// design: a more specific route on the pair wins over it.
		if p, ok := prefixOf(r.Dst); ok && p.Bits() > 0 {
			used = append(used, p)
		}
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok {
			used = append(used, p)
		}
	}
	free := func(p netip.Prefix) bool {
		for _, u := range used {
			if u.Overlaps(p) {
				return false
			}
		}
		return true
	}
	for range 64 {
		n := rand.Uint32()
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n) &^ 3}), 30)
		if free(p) {
			return p, nil
		}
	}
	for range 64 {
		n := rand.Uint32()
		// 169.254.0.0/24 and .255.0/24 are reserved even within link-local.
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{169, 254, byte(1 + n>>8%254), byte(n) &^ 3}), 30)
		if free(p) {
			return p, nil
		}
	}
	return netip.Prefix{}, errors.New("no free /30 in 10/8 or 169.254/16: the host's routes cover them all")
}

// prefixOf converts an IPv4 network, masked.
func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	ones, bits := n.Mask.Size()
	if !a.Is4() || bits != 32 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones).Masked(), true
}

// SetNSLinkUp brings the namespace end of the pair up or down, from
// inside the namespace: down, nothing the namespace sends leaves it and
// nothing reaches it, as if its host had lost power; the host end loses
// its carrier and drops what it is given, without an error to the sender.
func (l *netLab) SetNSLinkUp(up bool) error {
	peer, err := l.nsh.LinkByName(l.nsLink)
	if err != nil {
		return fmt.Errorf("demo lab: %s in %s: %w", l.nsLink, l.name, err)
	}
	if up {
		err = l.nsh.LinkSetUp(peer)
	} else {
		err = l.nsh.LinkSetDown(peer)
	}
	if err != nil {
		return fmt.Errorf("demo lab: set %s up=%v in %s: %w", l.nsLink, up, l.name, err)
	}
	return nil
}

// Close deletes the veth pair (and with it both qdiscs and the
// addresses) and the namespace's name. The namespace itself goes when
// nothing refers to it any more: sockets made in it hold it until they
// are closed, which is why a Run closes its labs after its sockets. It is
// idempotent; the error is the first thing that could not be removed.
func (l *netLab) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		// Deleting the host end deletes its peer in the namespace too; it
		// is done explicitly because the namespace may outlive its name
		// for a while, held by an orphaned socket.
		if link, err := netlink.LinkByName(l.hostLink); err == nil {
			if err := netlink.LinkDel(link); err != nil {
				errs = append(errs, fmt.Errorf("delete %s: %w", l.hostLink, err))
			}
		}
		if l.nsh != nil {
			l.nsh.Close()
		}
		if l.ns.IsOpen() {
			l.ns.Close()
		}
		if err := removeNamedNS(l.path); err != nil {
			errs = append(errs, err)
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// removeNamedNS unmounts and removes a namespace's file, as `ip netns
// delete` does; a file that is not there is no error.
func removeNamedNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// removeStaleLabs deletes the namespaces and host-side veth ends of
// processes that are gone (killed before they could close their labs);
// those of a live process, this one's included, are left alone.
func removeStaleLabs() {
	stale := func(name string) bool {
		rest, ok := strings.CutPrefix(name, labPrefix)
		if !ok {
			return false
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		return err == nil && pid > 0 && pid != os.Getpid() && unix.Kill(pid, 0) == unix.ESRCH
	}
	if links, err := netlink.LinkList(); err == nil {
		for _, link := range links {
			if _, ok := link.(*netlink.Veth); ok && stale(link.Attrs().Alias) {
				_ = netlink.LinkDel(link)
			}
		}
	}
	ents, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if stale(e.Name()) {
			_ = removeNamedNS(filepath.Join(netnsDir, e.Name()))
		}
	}
}
