// Package collect reads the machine's socket table from the kernel and
// turns it into a Snapshot: the one data contract the terminal view, the
// demos and the headless modes share. It knows nothing about terminals.
package collect

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// Proto is the transport protocol of a socket.
type Proto uint8

// The protocols socktop reports.
const (
	TCP Proto = iota + 1
	UDP
	// Unix is a Unix domain socket (AF_UNIX): Local and Remote are unset,
	// and Path, Type and PeerInode say what it is.
	Unix
)

// String returns "tcp", "udp" or "unix".
func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case Unix:
		return "unix"
	}
	return "?"
}

// SockType is a Unix socket's type, with the kernel's values.
type SockType uint8

// The Unix socket types.
const (
	SockStream    SockType = 1
	SockDgram     SockType = 2
	SockSeqpacket SockType = 5
)

// String returns "stream", "dgram", "seqpacket", or "?" for a type
// socktop does not know.
func (t SockType) String() string {
	switch t {
	case SockStream:
		return "stream"
	case SockDgram:
		return "dgram"
	case SockSeqpacket:
		return "seqpacket"
	}
	return "?"
}

// NetNS names a network namespace.
type NetNS struct {
	// Inode is the namespace's inode (as in /proc/PID/ns/net); 0 when the
	// source did not say, which means the namespace socktop runs in.
	Inode uint32 `json:"inode"`
	// Name is the ip netns name, else the container's, else "pid N comm"
	// of a process inside; "" when socktop has no name for it.
	Name string `json:"name,omitempty"`
}

// State is a socket state. The numeric values are the kernel's (TCP_ESTABLISHED
// = 1 ... TCP_BOUND_INACTIVE = 13) so a netlink reply converts without a
// table; StateUnconn is socktop's own, for a UDP socket with no fixed peer.
type State uint8

// Socket states, numbered as in include/net/tcp_states.h.
const (
	StateUnknown     State = 0
	StateEstablished State = 1
	StateSynSent     State = 2
	StateSynRecv     State = 3
	StateFinWait1    State = 4
	StateFinWait2    State = 5
	StateTimeWait    State = 6
	StateClosed      State = 7
	StateCloseWait   State = 8
	StateLastAck     State = 9
	StateListen      State = 10
	StateClosing     State = 11
	// StateNewSynRecv is the kernel's request socket; it is reported as
	// SYN_RECV, as ss does.
	StateNewSynRecv State = 12
	// StateBoundInactive is a bound, not listening, not connected TCP socket
	// (kernel 6.8+); it is shown as CLOSED.
	StateBoundInactive State = 13
	// StateUnconn is a UDP socket without a connected peer (kernel TCP_CLOSE
	// on a UDP socket).
	StateUnconn State = 14

	// NumStates bounds the State values, for arrays indexed by state.
	NumStates = 15
)

var stateNames = [NumStates]string{
	StateUnknown:       "UNKNOWN",
	StateEstablished:   "ESTABLISHED",
	StateSynSent:       "SYN_SENT",
	StateSynRecv:       "SYN_RECV",
	StateFinWait1:      "FIN_WAIT_1",
	StateFinWait2:      "FIN_WAIT_2",
	StateTimeWait:      "TIME_WAIT",
	StateClosed:        "CLOSED",
	StateCloseWait:     "CLOSE_WAIT",
	StateLastAck:       "LAST_ACK",
	StateListen:        "LISTEN",
	StateClosing:       "CLOSING",
	StateNewSynRecv:    "SYN_RECV",
	StateBoundInactive: "CLOSED",
	StateUnconn:        "UNCONN",
}

// ssNames are the spellings ss prints in its State column.
var ssNames = [NumStates]string{
	StateUnknown:       "UNKNOWN",
	StateEstablished:   "ESTAB",
	StateSynSent:       "SYN-SENT",
	StateSynRecv:       "SYN-RECV",
	StateFinWait1:      "FIN-WAIT-1",
	StateFinWait2:      "FIN-WAIT-2",
	StateTimeWait:      "TIME-WAIT",
	StateClosed:        "UNCONN",
	StateCloseWait:     "CLOSE-WAIT",
	StateLastAck:       "LAST-ACK",
	StateListen:        "LISTEN",
	StateClosing:       "CLOSING",
	StateNewSynRecv:    "SYN-RECV",
	StateBoundInactive: "UNCONN",
	StateUnconn:        "UNCONN",
}

// String returns the course-notes name of the state (TIME_WAIT, UNCONN...).
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// SSName returns the spelling ss uses for the state (TIME-WAIT, ESTAB...).
func (s State) SSName() string {
	if int(s) < len(ssNames) {
		return ssNames[s]
	}
	return "UNKNOWN"
}

// Canonical folds the kernel's aliases onto the state a person sees:
// NEW_SYN_RECV becomes SYN_RECV and BOUND_INACTIVE becomes CLOSED.
func (s State) Canonical() State {
	switch s {
	case StateNewSynRecv:
		return StateSynRecv
	case StateBoundInactive:
		return StateClosed
	}
	return s
}

// StateMask is a set of states, bit i for State i, in the layout of the
// kernel's idiag_states so it can go into a request unchanged (except for
// StateUnconn, which maps to TCP_CLOSE for UDP).
type StateMask uint32

// AllStates matches every state.
const AllStates StateMask = 1<<NumStates - 1

// Has reports whether s is in the mask.
func (m StateMask) Has(s State) bool { return m&(1<<s) != 0 }

// Timer is the kind of kernel timer pending on a socket (idiag_timer).
type Timer uint8

// Timer kinds, numbered as the kernel's idiag_timer.
const (
	TimerOff       Timer = 0
	TimerOn        Timer = 1 // retransmit
	TimerKeepalive Timer = 2
	TimerTimeWait  Timer = 3
	TimerPersist   Timer = 4 // zero-window probe
)

// String returns off, on, keepalive, timewait or persist.
func (t Timer) String() string {
	switch t {
	case TimerOff:
		return "off"
	case TimerOn:
		return "on"
	case TimerKeepalive:
		return "keepalive"
	case TimerTimeWait:
		return "timewait"
	case TimerPersist:
		return "persist"
	}
	return "unknown"
}

// Owner is a process holding a file descriptor for a socket.
type Owner struct {
	PID  int    `json:"pid"`
	Name string `json:"name"`
}

// TCPInfo holds the tcp_info figures the detail view shows. It is fetched
// only when asked for, because asking for it on every socket doubles the
// cost of a dump.
type TCPInfo struct {
	RTT           time.Duration `json:"rtt"`
	RTTVar        time.Duration `json:"rttvar"`
	Cwnd          uint32        `json:"cwnd"`
	Retransmits   uint8         `json:"retransmits"`
	TotalRetrans  uint32        `json:"total_retrans"`
	BytesAcked    uint64        `json:"bytes_acked"`
	BytesReceived uint64        `json:"bytes_received"`
}

// Rate is a TCP connection's throughput between two snapshots, from
// the deltas of tcp_info's bytes_acked (sent) and bytes_received.
type Rate struct {
	// Send is bytes acknowledged by the peer per second.
	Send float64 `json:"send_bytes_per_s"`
	// Recv is bytes received per second.
	Recv float64 `json:"recv_bytes_per_s"`
}

// Socket is one row of the socket table. Its fields are ordered by size,
// so that the row has no padding between them, and the ones a refresh
// compares (the Key, state, queues, timer kind, inode, owners) sit in its
// first two cache lines.
type Socket struct {
	Local  netip.AddrPort
	Remote netip.AddrPort

	Proto   Proto
	Family  uint8 // 4 or 6
	State   State
	Timer   Timer
	Retrans uint8
	// Type is a Unix socket's type; 0 for TCP and UDP.
	Type SockType
	// Unknown lists the fields the source could not fill for this socket.
	// Their values are zero and must be shown as unknown (`?` in a table,
	// absent in JSON), never as a real 0.
	Unknown Fields

	RecvQ uint32
	SendQ uint32
	UID   uint32
	// Inode is 0 when no file descriptor refers to the socket: TIME_WAIT,
	// orphans, children not yet accepted.
	Inode uint32
	// Ifindex is the interface the socket is bound to (SO_BINDTODEVICE,
	// or an IPv6 link-local scope), 0 for none.
	Ifindex uint32
	// PeerInode is the inode of a connected Unix socket's other end; 0
	// when it has none.
	PeerInode uint32
	// Mark is the socket's fwmark (SO_MARK). The kernel reports it only
	// to a requester with CAP_NET_ADMIN (and older kernels never for a
	// TIME_WAIT or request socket): FieldMark is unknown then.
	Mark uint32

	Owners []Owner
	// NetNS is the network namespace the socket lives in.
	NetNS NetNS
	// TimerLeft is the time until the timer fires; 0 when Timer is off.
	TimerLeft time.Duration
	// Cookie is the kernel's socket cookie, used to ask for one socket
	// again (the detail view's tcp_info); 0 when the source has none.
	Cookie uint64
	// CgroupID is the id of the cgroup v2 the socket was made in (see
	// CgroupPath); 0 for a TIME_WAIT or request socket, which has none.
	// FieldCgroup is unknown when the kernel did not say.
	CgroupID uint64
	// Info is nil unless tcp_info was asked for.
	Info *TCPInfo
	// Rate is the connection's throughput since the previous snapshot
	// that had its tcp_info; nil when rates were not asked for or the
	// connection has not been seen twice yet (unknown, not zero).
	Rate *Rate
	// Path is a Unix socket's address: a file path, "@name" for an
	// abstract name, "" for an unnamed socket.
	Path string
}

// Fields is a set of Socket fields, used to say which ones are unknown.
type Fields uint16

// The Socket fields a source may be unable to fill.
const (
	FieldRecvQ Fields = 1 << iota
	FieldSendQ
	FieldUID
	FieldInode
	FieldTimer // Timer and TimerLeft
	FieldRetrans
	FieldCookie
	// FieldOwners means socktop could not tell who holds the socket: the
	// owner scan was off, or it could not read some processes' /proc and
	// found no owner among the ones it could. An empty Owners without
	// this bit means nobody holds a descriptor for the socket.
	FieldOwners
	// FieldIfindex means the source cannot tell the bound interface.
	FieldIfindex
	// FieldMark means the kernel did not report the socket's mark.
	FieldMark
	// FieldCgroup means the kernel did not report the socket's cgroup.
	FieldCgroup
)

// Has reports whether every field of x is in f.
func (f Fields) Has(x Fields) bool { return f&x == x }

// Known reports whether the field x of the socket is known.
func (s *Socket) Known(x Fields) bool { return s.Unknown&x == 0 }

// OwnerCoverage says how much of the owner picture a snapshot has.
type OwnerCoverage uint8

// Owner coverage of a snapshot. The zero value is OwnersNotLooked so a
// source that does not resolve owners never claims to know them.
const (
	// OwnersNotLooked: no owner scan was made (--no-owners, or a source
	// without owners); every socket's owners are unknown.
	OwnersNotLooked OwnerCoverage = iota
	// OwnersPartial: some processes' descriptors could not be read (not
	// root); a socket with no owner found may belong to one of them.
	OwnersPartial
	// OwnersComplete: every process was scanned.
	OwnersComplete
)

// String returns "not looked", "partial" or "complete".
func (c OwnerCoverage) String() string {
	switch c {
	case OwnersPartial:
		return "partial"
	case OwnersComplete:
		return "complete"
	}
	return "not looked"
}

// Key identifies a connection across snapshots: the protocol and the
// 4-tuple. A TIME_WAIT socket is a different kernel object from the
// ESTABLISHED one before it, but it has the same Key, which is how socktop
// follows one connection through its states.
type Key struct {
	Proto  Proto
	Local  netip.AddrPort
	Remote netip.AddrPort
	// Inode tells Unix sockets apart, which have no 4-tuple. It is 0 for
	// TCP and UDP: their TIME_WAIT successor has no inode and is still
	// the same connection.
	Inode uint32
	// NetNS is the inode of the socket's network namespace, so that two
	// namespaces' 127.0.0.1:80 stay apart; 0 for the namespace socktop
	// runs in, so that a source or kernel event that cannot tell the
	// namespace (tracefs, gopsutil) keys the same as one that can.
	NetNS uint32
}

// Key returns the socket's identity across snapshots.
func (s *Socket) Key() Key {
	k := Key{Proto: s.Proto, Local: s.Local, Remote: s.Remote, NetNS: keyNetNS(s.NetNS.Inode)}
	if s.Proto == Unix {
		k.Inode = s.Inode
	}
	return k
}

// keyNetNS is a namespace inode as Keys carry it: 0 for socktop's own.
func keyNetNS(inode uint32) uint32 {
	if inode == ownNetNS() {
		return 0
	}
	return inode
}

// Snapshot is the socket table at one moment.
//
// Who may hold a row, and for how long: the Sockets array belongs to the
// caller that received the snapshot, until it hands the array back to a
// source's SnapshotInto (see Netlink.SnapshotInto), which overwrites it.
// Until then anyone may keep pointers into it; from then on nobody may
// read them. A caller that recycles arrays must therefore copy out every
// row it keeps longer (a gone row, a log entry, the detail view's
// socket): a copy of a Socket shares only its Owners, which the source
// never modifies, and its Info, which a source filling a recycled array
// does not reuse. The live view's rule (docs/performance.md) is that an
// array is handed back once it is neither shown nor the tracker's
// previous snapshot; Changes computed from it are used up by then.
type Snapshot struct {
	Taken  time.Time
	Source string // "netlink", "gopsutil", ...
	// Partial is true when the kernel said the dump was interrupted and a
	// retry did not help, or when one family or protocol failed.
	Partial bool
	// Owners says whether the sockets' Owners were looked up, and whether
	// every process could be read.
	Owners OwnerCoverage
	// OwnersVia is how the owner cache last read every descriptor table:
	// OwnersViaBPF or OwnersViaProc, "" when owners were not looked up.
	OwnersVia string
	// Notices are things the user should be told once: no root so owners
	// are incomplete, a fallback to another source, a partial dump.
	Notices []string
	// Filtered is set when a kernel filter (Options.Kernel) narrowed at
	// least one dump: Sockets then holds only what the kernel let
	// through, and Total says how many sockets the table held.
	Filtered bool
	// Total is, for a Filtered snapshot, the size of the whole table the
	// source would have listed without the kernel filter, from the
	// kernel's socket counters (/proc/net/sockstat) read beside the dump,
	// so an estimate. It is 0 when unknown: the snapshot is not Filtered
	// (len(Sockets) is the total then), or the counters are not those of
	// the namespaces dumped (-N, --all-netns).
	Total   int
	Sockets []Socket
}

// The ways a full owner pass can read the descriptor tables, as
// Snapshot.OwnersVia names them.
const (
	OwnersViaBPF  = "bpf-iter" // the task_file BPF iterator
	OwnersViaProc = "proc"     // readlink of every /proc/PID/fd entry
)

// Source produces snapshots of the socket table.
type Source interface {
	Snapshot(ctx context.Context) (Snapshot, error)
}

// Sentinel errors; concrete errors wrap them with %w.
var (
	// ErrUnsupported means the source cannot work here (no sock_diag, not
	// Linux); callers fall back to another source.
	ErrUnsupported = errors.New("source unsupported here")
	// ErrNotFound means a socket asked for by Key or Cookie is gone.
	ErrNotFound = errors.New("socket not found")
)
