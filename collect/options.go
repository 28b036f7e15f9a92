package collect

import (
	"context"
	"sync"
)

// Options chooses what a Source asks the kernel for. The zero value asks
// for what `ss -tanu` shows: TCP and UDP, IPv4 and IPv6, every state but
// the bound-inactive TCP sockets, no owners and no tcp_info.
type Options struct {
	TCP, UDP bool // both false means both, unless Unix is set
	// Unix adds the Unix domain sockets, as ss -x does: with TCP or UDP
	// it adds them to those, and alone it means Unix sockets only.
	Unix       bool
	IPv4, IPv6 bool      // both false means both
	States     StateMask // 0 means all states
	Owners     bool      // resolve owning processes from /proc
	TCPInfo    bool      // fetch tcp_info on every TCP socket (slow; off by default)
	// AllNetNS lists the sockets of every network namespace on the host,
	// not only of the one socktop runs in (netlink only).
	AllNetNS bool
	// NetNS is the path of the one network namespace to list instead of
	// socktop's own (see ResolveNetNS); "" for socktop's own.
	NetNS string
	// Kernel, when set, narrows every TCP and UDP dump in the kernel to a
	// superset of what the caller will keep (netlink only): the caller's
	// own predicate stays the final word, and the snapshot holds only
	// the sockets the kernel let through.
	Kernel KernelFilter
}

// KernelFilter gives the inet_diag bytecode (INET_DIAG_REQ_BYTECODE) for
// a dump of one protocol and family (4, 6, or 0 when one dump walks both),
// as filter.Filter does: nil to dump everything, an empty slice when no
// socket of that dump can be wanted, so it is skipped.
type KernelFilter interface {
	Bytecode(proto Proto, family uint8) []byte
}

// FieldNeeder is implemented by a KernelFilter whose conditions read
// Socket fields a dump can leave unknown (filter.Filter: fwmark reads
// FieldMark): a source then says so in a Notice when its dump did.
type FieldNeeder interface {
	Needs() Fields
}

// TCPInfoSetter is implemented by sources that can turn the fetching of
// tcp_info on every TCP socket on and off between snapshots (Netlink):
// the live view asks for it only while a rate column is shown.
type TCPInfoSetter interface {
	SetTCPInfo(on bool)
}

// InfoSource is implemented by sources that can fetch tcp_info for one
// socket, for the detail view. The error wraps ErrNotFound when the socket
// is gone or has no tcp_info (TIME_WAIT, a request socket).
type InfoSource interface {
	Info(ctx context.Context, k Key) (*TCPInfo, error)
}

// wantTCP, wantUDP, want4 and want6 apply the "both false means both" rule;
// Unix alone turns TCP and UDP off, as ss -x does.
func (o *Options) wantTCP() bool { return o.TCP || !o.UDP && !o.Unix }
func (o *Options) wantUDP() bool { return o.UDP || !o.TCP && !o.Unix }
func (o *Options) want4() bool   { return o.IPv4 || !o.IPv6 }
func (o *Options) want6() bool   { return o.IPv6 || !o.IPv4 }

// Kernel state bits used when translating a StateMask into idiag_states.
const (
	tcpfSynRecv       = 1 << StateSynRecv
	tcpfClose         = 1 << StateClosed
	tcpfNewSynRecv    = 1 << StateNewSynRecv
	tcpfBoundInactive = 1 << StateBoundInactive
	tcpfEstablished   = 1 << StateEstablished
	// defaultTCPStates is every kernel state up to NEW_SYN_RECV: what
	// `ss -ta` asks for. Bound-inactive sockets are left out because ss
	// does not show them either.
	defaultTCPStates = 1<<(StateNewSynRecv+1) - 1
)

// tcpStates returns the idiag_states of a TCP dump for the mask m.
func tcpStates(m StateMask) uint32 {
	if m == 0 {
		return defaultTCPStates
	}
	k := uint32(m) & (1<<(StateBoundInactive+1) - 1)
	if k&tcpfSynRecv != 0 {
		// The kernel keeps half-open connections as request sockets in
		// NEW_SYN_RECV and reports them as SYN_RECV.
		k |= tcpfNewSynRecv
	}
	if k&tcpfClose != 0 {
		// A closed TCP socket is only visible while bound, and the kernel
		// dumps those only for the BOUND_INACTIVE bit.
		k |= tcpfBoundInactive
	}
	return k
}

// udpStates returns the idiag_states of a UDP dump for the mask m: a UDP
// socket is TCP_CLOSE (UNCONN) or TCP_ESTABLISHED (connected).
func udpStates(m StateMask) uint32 {
	if m == 0 {
		return tcpfClose | tcpfEstablished
	}
	var k uint32
	if m.Has(StateEstablished) {
		k |= tcpfEstablished
	}
	if m.Has(StateUnconn) || m.Has(StateClosed) {
		k |= tcpfClose
	}
	return k
}

// notices remembers which notices a source already gave, so each is told
// once, as the Snapshot contract asks.
type notices struct {
	mu   sync.Mutex
	told map[string]bool
}

// add appends msg to snap.Notices unless it was told before.
func (n *notices) add(snap *Snapshot, msg string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.told[msg] {
		return
	}
	if n.told == nil {
		n.told = make(map[string]bool)
	}
	n.told[msg] = true
	snap.Notices = append(snap.Notices, msg)
}
