//go:build linux

package collect

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Layout of the sock_diag messages (include/uapi/linux/inet_diag.h).
const (
	nlmsgHdrLen     = 16
	inetDiagReqLen  = 56 // struct inet_diag_req_v2
	inetDiagMsgLen  = 72 // struct inet_diag_msg
	sockDiagByFam   = 20 // SOCK_DIAG_BY_FAMILY
	inetDiagInfo    = 2  // INET_DIAG_INFO, the tcp_info attribute
	recvBufLen      = 64 << 10
	dumpRetries     = 3
	tcpInfoSlabSize = 256
)

// inetDiagNoCookie tells the kernel to look a socket up by its 4-tuple only.
const inetDiagNoCookie = ^uint32(0)

// Netlink is a Source that reads the socket table over NETLINK_SOCK_DIAG,
// as ss does. It keeps one netlink socket and one receive buffer for its
// lifetime; Snapshot and Info serialise on it. Every Snapshot gets a fresh
// Sockets slice, so a caller may keep an old snapshot while asking for the
// next one. Owner slices are shared between snapshots and must not be
// modified.
type Netlink struct {
	opts    Options
	states  atomic.Uint32
	tcpInfo atomic.Bool
	told    notices

	mu   sync.Mutex
	fd   int    // -1 while closed
	port uint32 // the socket's netlink port, which replies are sent to
	seq  uint32
	buf  []byte
	// from and fromLen receive the sender of each datagram (see recv).
	from    unix.RawSockaddrNetlink
	fromLen uint32
	req     [nlmsgHdrLen + inetDiagReqLen]byte
	// reqBC is a request with its INET_DIAG_REQ_BYTECODE attribute, kept
	// for the next dump; kernel is the filter that gives the bytecode.
	reqBC  []byte
	kernel atomic.Pointer[kernelBox]
	// ownersFor is the Taken of the last table whose owners the cache
	// gave, which a patch may keep them from.
	ownersFor time.Time
	// ownersOnScreen: see SetOwnersOnScreen.
	ownersOnScreen atomic.Bool
	compat         [nlmsgHdrLen + inetDiagReqV1Len]byte
	// noCompat is set once the kernel refused the one-walk TCP dump of
	// both families; the two per-family dumps are used from then on.
	noCompat bool
	// compatType overrides the compat request's message type; tests set
	// an unknown one to make the kernel refuse it (EINVAL).
	compatType uint16
	// protocol is the netlink protocol opened, NETLINK_SOCK_DIAG; tests
	// set one the kernel does not have.
	protocol int
	last     int // socket count of the previous snapshot, to size the next
	owners   *ownerCache
	slab     []TCPInfo
	// nsPath is the namespace fd is opened in, "" for socktop's own;
	// nsWant its inode, 0 when any. self tags the sockets dumped on fd.
	// others holds the sockets kept in the other namespaces (AllNetNS).
	nsPath string
	nsWant uint32
	self   NetNS
	others *netnsSet
	ux     unixDump // Options.Unix: see unix_linux.go
	// skip is the dumps the namespace being dumped does not need (its
	// sockstat counters say it has none of the protocol); see
	// netns_sockstat_linux.go.
	skip uint8
	// cg, while set, counts the cgroup ids of the sockets dumped, to name
	// a namespace after the container its sockets were made in.
	cg *cgroupIDs
	// look is what Lookup and Sockstat keep (netlink_lookup_linux.go).
	look lookupState
	// patch is what Patch keeps (netlink_patch_linux.go).
	patch patchState
}

// NewNetlink returns a Netlink source with the given options. The netlink
// socket is opened by the first Snapshot or Info; its failure is reported
// there, wrapping ErrUnsupported when sock_diag is refused (EPERM,
// EPROTONOSUPPORT...) and the errno alone otherwise (EMFILE).
func NewNetlink(opts Options) *Netlink {
	n := &Netlink{opts: opts, fd: -1, protocol: unix.NETLINK_SOCK_DIAG}
	n.states.Store(uint32(opts.States))
	n.tcpInfo.Store(opts.TCPInfo)
	n.SetKernelFilter(opts.Kernel)
	n.initNetNS()
	if opts.Owners {
		n.owners = newOwnerCache()
	}
	return n
}

// SetStates changes the state mask for the next Snapshot; 0 means all
// states. It is safe to call while a Snapshot runs.
func (n *Netlink) SetStates(m StateMask) { n.states.Store(uint32(m)) }

// SetTCPInfo turns the fetching of tcp_info on every TCP socket on or off
// for the next Snapshot, as Options.TCPInfo does at the start. It is
// safe to call while a Snapshot runs.
func (n *Netlink) SetTCPInfo(on bool) { n.tcpInfo.Store(on) }

// kernelBox holds a KernelFilter for the atomic pointer.
type kernelBox struct{ f KernelFilter }

// SetKernelFilter changes the kernel filter (Options.Kernel) for the next
// Snapshot; nil dumps everything. It is safe to call while a Snapshot
// runs.
func (n *Netlink) SetKernelFilter(f KernelFilter) {
	if f == nil {
		n.kernel.Store(nil)
		return
	}
	n.kernel.Store(&kernelBox{f})
}

// bytecode is the kernel filter's program for one dump: nil for none,
// empty when the dump can be skipped.
func (n *Netlink) bytecode(proto, fam uint8) []byte {
	b := n.kernel.Load()
	if b == nil {
		return nil
	}
	p, f := TCP, uint8(0)
	if proto == unix.IPPROTO_UDP {
		p = UDP
	}
	switch fam {
	case unix.AF_INET:
		f = 4
	case unix.AF_INET6:
		f = 6
	}
	return b.f.Bytecode(p, f)
}

// withBytecode returns req with an INET_DIAG_REQ_BYTECODE attribute
// carrying bc appended, in n.reqBC; req itself when bc is nil.
func (n *Netlink) withBytecode(req, bc []byte) []byte {
	if bc == nil {
		return req
	}
	const nlaHdrLen, inetDiagReqBytecode = 4, 1
	attr := nlaHdrLen + len(bc)
	total := len(req) + (attr+3)&^3
	r := append(n.reqBC[:0], req...)
	r = binary.NativeEndian.AppendUint16(r, uint16(attr))
	r = binary.NativeEndian.AppendUint16(r, inetDiagReqBytecode)
	r = append(r, bc...)
	for len(r) < total {
		r = append(r, 0)
	}
	binary.NativeEndian.PutUint32(r[0:], uint32(total))
	n.reqBC = r
	return r
}

// Close releases the netlink socket. A later Snapshot opens a new one.
func (n *Netlink) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closeLocked()
	if n.others != nil {
		n.others.closeAll()
	}
	if n.owners != nil {
		n.owners.close()
	}
	n.look.closeStat()
	n.look.connMu.Lock()
	if c := n.look.conn; c != nil {
		c.Close()
	}
	n.look.connMu.Unlock()
	return nil
}

func (n *Netlink) closeLocked() {
	if n.fd >= 0 {
		unix.Close(n.fd)
		n.fd = -1
	}
}

func (n *Netlink) openLocked() error {
	if n.fd >= 0 {
		return nil
	}
	if n.nsPath != "" {
		return n.openInLocked()
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, n.protocol)
	if err != nil {
		if refused(err) {
			return fmt.Errorf("collect: open NETLINK_SOCK_DIAG: %w: %w", err, ErrUnsupported)
		}
		return fmt.Errorf("collect: open NETLINK_SOCK_DIAG: %w", err)
	}
	return n.bindLocked(fd)
}

// bindLocked binds a new sock_diag socket and makes it n's.
func (n *Netlink) bindLocked(fd int) error {
	// Bound now rather than on the first send, so that the port the
	// kernel picks is known before the first reply is checked against it.
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return fmt.Errorf("collect: bind NETLINK_SOCK_DIAG: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("collect: NETLINK_SOCK_DIAG socket name: %w", err)
	}
	nl, ok := sa.(*unix.SockaddrNetlink)
	if !ok {
		unix.Close(fd)
		return fmt.Errorf("collect: NETLINK_SOCK_DIAG socket named by a %T", sa)
	}
	n.fd, n.port = fd, nl.Pid
	if n.buf == nil {
		n.buf = make([]byte, recvBufLen)
	}
	return nil
}

// probe checks that the kernel answers a sock_diag dump, cheaply: a TCP
// dump restricted to LISTEN walks only the listening hash.
func (n *Netlink) probe() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.openLocked(); err != nil {
		return err
	}
	_, _, err := n.dumpLocked(nil, unix.AF_INET, unix.IPPROTO_TCP, 1<<StateListen, 0, nil)
	if err != nil {
		n.closeLocked()
		if refused(err) {
			return fmt.Errorf("collect: sock_diag probe: %w: %w", err, ErrUnsupported)
		}
		return fmt.Errorf("collect: sock_diag probe: %w", err)
	}
	return nil
}

// refused reports whether err from socket() or a first dump means that
// sock_diag cannot be used here (a sandbox, a kernel without it), so that
// another source should be tried. Anything else, such as EMFILE or
// ENOBUFS, is this process's own trouble and no other source would fix it.
func refused(err error) bool {
	for _, e := range []unix.Errno{unix.EPERM, unix.EACCES, unix.EPROTONOSUPPORT, unix.EAFNOSUPPORT,
		unix.ESOCKTNOSUPPORT, unix.ENOENT, unix.EOPNOTSUPP, unix.EINVAL, unix.ENOSYS} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Snapshot dumps TCP and UDP sockets of the chosen families, in kernel
// order, then the Unix sockets when Options.Unix asks for them. A family
// or protocol the kernel refuses (udp_diag not loaded) is left out and
// the snapshot marked Partial, with a Notice. The Sockets slice is new.
func (n *Netlink) Snapshot(ctx context.Context) (Snapshot, error) {
	return n.SnapshotInto(ctx, nil)
}

// SnapshotInto is Snapshot with its Sockets made in buf's array, which the
// caller gives up (see the Snapshot type): a live view that hands back
// the array of the snapshot it no longer shows allocates no table per
// refresh. buf's contents do not matter. An array too small for the table
// is left for a new one, and so is one far larger than the table needs,
// so that a burst does not keep its memory.
func (n *Netlink) SnapshotInto(ctx context.Context, buf []Socket) (Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return Snapshot{}, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.openLocked(); err != nil {
		return Snapshot{}, err
	}
	if n.owners != nil {
		n.owners.startEarly(n.kernel.Load() == nil)
	}
	snap := Snapshot{Taken: time.Now(), Source: "netlink"}
	mask := StateMask(n.states.Load())
	hint := n.last
	if hint == 0 && n.kernel.Load() == nil && (mask == 0 || mask.Has(StateEstablished) || mask.Has(StateTimeWait)) {
		// First snapshot of a dump that will hold most of the table: size
		// it from the kernel's counters rather than grow it by doubling.
		// Not under a kernel filter: the counters count what it leaves
		// in the kernel.
		hint = sockstatEstimate()
	}
	socks := tableBuffer(buf, hint)
	recycled := cap(buf) > 0 && unsafe.SliceData(socks[:1]) == unsafe.SliceData(buf[:1])
	socks, err := n.dumpTableLocked(ctx, &snap, socks, mask)
	if err != nil {
		return Snapshot{}, err
	}
	n.tagLocked(socks, snap.Taken)
	if n.others != nil {
		if socks, err = n.dumpOthersLocked(ctx, &snap, socks, mask); err != nil {
			return Snapshot{}, err
		}
	}
	n.noteUndecided(&snap, socks)
	n.last = len(socks)
	if recycled && unsafe.SliceData(socks[:1]) == unsafe.SliceData(buf[:1]) {
		// What a recycled array held past this table would keep the owner
		// slices of older refreshes alive. A new array's tail is zero, and
		// clearing it would only fault its pages in.
		clear(socks[len(socks):cap(socks)])
	}
	if n.owners != nil {
		if msg := n.owners.resolve(socks); msg != "" {
			n.told.add(&snap, msg)
		}
		snap.Owners = markOwners(n.owners, socks)
		snap.OwnersVia = n.owners.via
		n.ownersFor = snap.Taken
	} else {
		for i := range socks {
			socks[i].Unknown |= FieldOwners
		}
	}
	if snap.Filtered && n.nsPath == "" && n.others == nil {
		// Unix sockets are never narrowed: they are all in socks.
		if c := sockstatEstimate(); c > 0 {
			snap.Total = c + countUnix(socks)
		}
	}
	snap.Sockets = socks
	return snap, nil
}

// tableBuffer returns the slice to dump a table of about hint sockets
// into: buf emptied when it holds them with a little room and is not more
// than four times too large (past a floor), and otherwise a new slice
// with room for the table to grow by an eighth. A recycled array's old
// rows need no clearing: each dumped row is appended as a zero Socket
// before it is decoded, and a retry clears what it drops.
func tableBuffer(buf []Socket, hint int) []Socket {
	if c := cap(buf); c >= hint+hint/32 && (c <= 4*hint || c <= 4096) {
		return buf[:0]
	}
	socks := make([]Socket, 0, hint+hint/8+64)
	adviseHugePages(socks)
	return socks
}

// countUnix counts the Unix sockets of socks.
func countUnix(socks []Socket) int {
	c := 0
	for i := range socks {
		if socks[i].Proto == Unix {
			c++
		}
	}
	return c
}

// dumpTableLocked appends the TCP and UDP sockets of the chosen families
// from n's socket, that is of one network namespace, in kernel order. A
// family or protocol the kernel refuses is left out and snap marked
// Partial, with a Notice.
func (n *Netlink) dumpTableLocked(ctx context.Context, snap *Snapshot, socks []Socket, mask StateMask) ([]Socket, error) {
	type dump struct {
		proto uint8
		fam   uint8
		on    bool
	}
	// Both TCP families in one walk of the kernel's hash when it takes the
	// compat request (see netlink_compat_linux.go).
	both := n.opts.wantTCP() && n.opts.want4() && n.opts.want6() && !n.noCompat
	dumps := []dump{
		{unix.IPPROTO_TCP, unix.AF_UNSPEC, both},
		{unix.IPPROTO_TCP, unix.AF_INET, n.opts.wantTCP() && n.opts.want4() && !both},
		{unix.IPPROTO_TCP, unix.AF_INET6, n.opts.wantTCP() && n.opts.want6() && !both},
		{unix.IPPROTO_UDP, unix.AF_INET, n.opts.wantUDP() && n.opts.want4()},
		{unix.IPPROTO_UDP, unix.AF_INET6, n.opts.wantUDP() && n.opts.want6()},
	}
	for i := 0; i < len(dumps); i++ {
		d := dumps[i]
		if !d.on || n.skips(d.proto) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return socks, err
		}
		states, ext := tcpStates(mask), uint8(0)
		if d.proto == unix.IPPROTO_UDP {
			states = udpStates(mask)
		} else if n.tcpInfo.Load() {
			ext = 1 << (inetDiagInfo - 1)
		}
		if states == 0 {
			continue
		}
		bc := n.bytecode(d.proto, d.fam)
		if bc != nil {
			snap.Filtered = true
		}
		if bc != nil && len(bc) == 0 {
			continue // the kernel filter says no socket of this dump is wanted
		}
		var err error
		intr := true
		before := len(socks)
		run := func(bc []byte) {
			intr = true
			for try := 0; try < dumpRetries && intr; try++ {
				// An interrupted dump may hold duplicates or miss sockets;
				// start it again, and keep the last attempt if all were. The
				// attempt's rows are cleared so that a shorter retry leaves no
				// tcp_info pointer past the snapshot's length.
				clear(socks[before:])
				socks = socks[:before]
				socks, intr, err = n.dumpLocked(socks, d.fam, d.proto, states, ext, bc)
				if err != nil {
					break
				}
			}
		}
		run(bc)
		if bc != nil && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)) {
			// The kernel refused the program, not the dump: a mark
			// condition from a requester without CAP_NET_ADMIN where the
			// namespace's user namespace asks for it. The dump goes
			// unfiltered; the caller's predicate decides.
			n.told.add(snap, noticeProgramRefused)
			run(nil)
		}
		if d.fam == unix.AF_UNSPEC && compatRefused(err) {
			// No compat interface in this kernel: per-family dumps from
			// now on, in its place so TCP still comes before UDP, on a
			// fresh socket (the failed dump may have left replies). Any
			// other error is a real one and is handled below.
			n.noCompat = true
			clear(socks[before:])
			socks = socks[:before]
			n.closeLocked()
			if err := n.openLocked(); err != nil {
				return socks, err
			}
			dumps = slices.Insert(dumps, i+1, dump{unix.IPPROTO_TCP, unix.AF_INET, true}, dump{unix.IPPROTO_TCP, unix.AF_INET6, true})
			continue
		}
		name := protoFamName(d.proto, d.fam)
		switch {
		case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP):
			// The kernel has no diag handler for this protocol.
			snap.Partial = true
			n.told.add(snap, "sock_diag has no "+name+" support here: "+name+" sockets are not shown")
		case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPROTONOSUPPORT):
			// A sandbox that refuses sock_diag: callers fall back.
			n.closeLocked()
			return socks, fmt.Errorf("collect: %s dump refused: %w: %w", name, err, ErrUnsupported)
		case err != nil:
			n.closeLocked()
			return socks, fmt.Errorf("collect: %s dump: %w", name, err)
		case intr:
			snap.Partial = true
			n.told.add(snap, "the kernel interrupted the "+name+" dump repeatedly: the table may be incomplete")
		}
	}
	if n.opts.Unix {
		var err error
		if socks, err = n.snapshotUnixLocked(socks, mask, snap); err != nil {
			n.closeLocked()
			return socks, err
		}
	}
	return socks, nil
}

// markOwners marks the sockets whose empty Owners is not known to mean
// "nobody": those with a descriptor (an inode) when some processes could
// not be read, or whose inode the cache has not scanned for yet (a scan
// is spaced out on a big host). A socket without an inode (TIME_WAIT, an
// orphan, a child not yet accepted) has no descriptor, so its empty
// owners are known. It returns the snapshot's coverage.
func markOwners(c *ownerCache, socks []Socket) OwnerCoverage {
	for i := range socks {
		c.markUnknown(&socks[i])
	}
	return c.coverage()
}

// markUnknown marks s's owners unknown when it has an inode, no owner,
// and the cache could not look for one (never scanned for it, or a
// process it could not read).
func (c *ownerCache) markUnknown(s *Socket) {
	if s.Inode == 0 || len(s.Owners) > 0 {
		return
	}
	if _, looked := c.byInode.get(s.Inode); c.denied || !looked {
		s.Unknown |= FieldOwners
	}
}

// coverage is what the cache's answers cover.
func (c *ownerCache) coverage() OwnerCoverage {
	if c.denied {
		return OwnersPartial
	}
	return OwnersComplete
}

func protoFamName(proto, fam uint8) string {
	p := "tcp"
	if proto == unix.IPPROTO_UDP {
		p = "udp"
	}
	switch fam {
	case unix.AF_INET6:
		return p + "6"
	case unix.AF_UNSPEC:
		return p
	}
	return p + "4"
}

// buildReq fills n.req with an inet_diag_req_v2. A zero key asks for a
// dump; otherwise it asks for the one socket with that 4-tuple.
func (n *Netlink) buildReq(fam, proto uint8, states uint32, ext uint8, flags uint16, k *Key) []byte {
	r := n.header(n.req[:], sockDiagByFam, flags)
	ne := binary.NativeEndian
	p := r[nlmsgHdrLen:]
	p[0], p[1], p[2] = fam, proto, ext
	ne.PutUint32(p[4:], states)
	if k != nil {
		binary.BigEndian.PutUint16(p[8:], k.Local.Port())
		binary.BigEndian.PutUint16(p[10:], k.Remote.Port())
		putAddr(p[12:28], k.Local.Addr())
		putAddr(p[28:44], k.Remote.Addr())
		ne.PutUint32(p[48:], inetDiagNoCookie)
		ne.PutUint32(p[52:], inetDiagNoCookie)
	}
	return r
}

func putAddr(dst []byte, a netip.Addr) {
	if a.Is4() {
		b := a.As4()
		copy(dst, b[:])
		return
	}
	if a.IsValid() {
		b := a.As16()
		copy(dst, b[:])
	}
}

// dumpLocked runs one dump and appends what it returns to socks. intr
// reports a reply flagged NLM_F_DUMP_INTR; the caller retries. On an error
// other than the kernel's errno the socket may hold the rest of the dump,
// so callers close it.
func (n *Netlink) dumpLocked(socks []Socket, fam, proto uint8, states uint32, ext uint8, bc []byte) (out []Socket, intr bool, err error) {
	var req []byte
	if fam == unix.AF_UNSPEC && proto == unix.IPPROTO_TCP {
		req = n.buildCompatReq(states, ext)
	} else {
		req = n.buildReq(fam, proto, states, ext, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, nil)
	}
	req = n.withBytecode(req, bc)
	intr, err = n.execute(req, func(msg []byte) error {
		var err error
		socks, err = n.appendDiag(socks, msg, proto)
		return err
	})
	return socks, intr, err
}

// appendDiag appends the socket of one inet_diag_msg. It does not
// allocate beyond socks' growth: addresses become netip values in place,
// and tcp_info comes from the slab.
func (n *Netlink) appendDiag(socks []Socket, msg []byte, proto uint8) ([]Socket, error) {
	if len(msg) < inetDiagMsgLen {
		return socks, fmt.Errorf("inet_diag_msg of %d bytes", len(msg))
	}
	socks = append(socks, Socket{})
	s := &socks[len(socks)-1]
	decodeDiagMsg(s, msg, proto)
	decodeMarkCgroup(s, msg[inetDiagMsgLen:])
	if n.cg != nil && len(msg) > inetDiagMsgLen {
		n.cg.note(msg[inetDiagMsgLen:])
	}
	if len(msg) > inetDiagMsgLen {
		if raw := findAttr(msg[inetDiagMsgLen:], inetDiagInfo); raw != nil {
			s.Info = n.newInfo()
			decodeTCPInfo(s.Info, raw)
		}
	}
	return socks, nil
}

// decodeDiagMsg fills s from an inet_diag_msg.
func decodeDiagMsg(s *Socket, m []byte, proto uint8) {
	ne := binary.NativeEndian
	fam, state := m[0], State(m[1])
	s.Proto = TCP
	if proto == unix.IPPROTO_UDP {
		s.Proto = UDP
		if state == StateClosed {
			state = StateUnconn
		}
	}
	s.State = state
	s.Timer = Timer(m[2])
	s.Retrans = m[3]
	lport, rport := binary.BigEndian.Uint16(m[4:]), binary.BigEndian.Uint16(m[6:])
	if fam == unix.AF_INET6 {
		s.Family = 6
		s.Local = netip.AddrPortFrom(netip.AddrFrom16([16]byte(m[8:24])), lport)
		s.Remote = netip.AddrPortFrom(netip.AddrFrom16([16]byte(m[24:40])), rport)
	} else {
		s.Family = 4
		s.Local = netip.AddrPortFrom(netip.AddrFrom4([4]byte(m[8:12])), lport)
		s.Remote = netip.AddrPortFrom(netip.AddrFrom4([4]byte(m[24:28])), rport)
	}
	s.Ifindex = ne.Uint32(m[40:])
	s.Cookie = uint64(ne.Uint32(m[44:])) | uint64(ne.Uint32(m[48:]))<<32
	if s.Timer != TimerOff {
		s.TimerLeft = time.Duration(ne.Uint32(m[52:])) * time.Millisecond
	}
	s.RecvQ = ne.Uint32(m[56:])
	s.SendQ = ne.Uint32(m[60:])
	s.UID = ne.Uint32(m[64:])
	s.Inode = ne.Uint32(m[68:])
}

// findAttr returns the payload of the first rtattr of type typ.
func findAttr(b []byte, typ uint16) []byte {
	ne := binary.NativeEndian
	for len(b) >= 4 {
		l := int(ne.Uint16(b[0:]))
		if l < 4 || l > len(b) {
			return nil
		}
		if ne.Uint16(b[2:])&0x3fff == typ {
			return b[4:l]
		}
		b = b[min(nlmsgAlign(l), len(b)):]
	}
	return nil
}

// newInfo hands out TCPInfo values from a slab, so asking for tcp_info on
// every socket costs one allocation per slab, not per socket.
func (n *Netlink) newInfo() *TCPInfo {
	if len(n.slab) == 0 {
		n.slab = make([]TCPInfo, tcpInfoSlabSize)
	}
	p := &n.slab[0]
	n.slab = n.slab[1:]
	return p
}

// decodeTCPInfo reads the struct tcp_info fields socktop shows. Offsets are
// from include/uapi/linux/tcp.h; a shorter struct from an older kernel
// leaves the missing fields zero.
func decodeTCPInfo(ti *TCPInfo, b []byte) {
	ne := binary.NativeEndian
	u32 := func(off int) uint32 {
		if off+4 > len(b) {
			return 0
		}
		return ne.Uint32(b[off:])
	}
	u64 := func(off int) uint64 {
		if off+8 > len(b) {
			return 0
		}
		return ne.Uint64(b[off:])
	}
	if len(b) > 2 {
		ti.Retransmits = b[2]
	}
	ti.RTT = time.Duration(u32(68)) * time.Microsecond
	ti.RTTVar = time.Duration(u32(72)) * time.Microsecond
	ti.Cwnd = u32(80)
	ti.TotalRetrans = u32(100)
	ti.BytesAcked = u64(120)
	ti.BytesReceived = u64(128)
}

// Info asks the kernel for the tcp_info of the TCP socket with key k. The
// error wraps ErrNotFound when no such socket exists, or when it exists
// without tcp_info (TIME_WAIT, a half-open request socket).
func (n *Netlink) Info(ctx context.Context, k Key) (*TCPInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if k.Proto != TCP {
		return nil, fmt.Errorf("collect: tcp_info asked for a %s socket: %w", k.Proto, ErrNotFound)
	}
	if !k.Local.Addr().IsValid() {
		return nil, fmt.Errorf("collect: tcp_info asked for a key without a local address: %w", ErrNotFound)
	}
	fam := uint8(unix.AF_INET6)
	if k.Local.Addr().Is4() {
		fam = unix.AF_INET
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var info *TCPInfo
	err := n.inNSLocked(k.NetNS, func() error {
		if err := n.openLocked(); err != nil {
			return err
		}
		req := n.buildReq(fam, unix.IPPROTO_TCP, uint32(AllStates), 1<<(inetDiagInfo-1), unix.NLM_F_REQUEST, &k)
		_, err := n.execute(req, func(msg []byte) error {
			if len(msg) < inetDiagMsgLen {
				return fmt.Errorf("inet_diag_msg of %d bytes", len(msg))
			}
			if raw := findAttr(msg[inetDiagMsgLen:], inetDiagInfo); raw != nil {
				info = new(TCPInfo)
				decodeTCPInfo(info, raw)
			}
			return nil
		})
		if err != nil && !errors.Is(err, unix.ENOENT) {
			n.closeLocked()
		}
		return err
	})
	switch {
	case errors.Is(err, unix.ENOENT):
		// The kernel answered with an error: the reply is over and the
		// socket can be used again.
		return nil, fmt.Errorf("collect: tcp_info for %s %s -> %s: %w: %w", k.Proto, k.Local, k.Remote, ErrNotFound, err)
	case err != nil:
		return nil, fmt.Errorf("collect: tcp_info for %s -> %s: %w", k.Local, k.Remote, err)
	case info == nil:
		return nil, fmt.Errorf("collect: %s -> %s has no tcp_info (TIME_WAIT or half-open): %w", k.Local, k.Remote, ErrNotFound)
	}
	return info, nil
}
