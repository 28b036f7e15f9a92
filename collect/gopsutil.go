package collect

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gnet "github.com/shirou/gopsutil/v4/net"
)

// Gopsutil is a Source built on gopsutil's net.Connections, for when
// sock_diag is refused. It gives protocol, family, state, addresses and
// one owning process; the fields gopsutil does not report (queues, timers,
// inode, socket uid, retransmits, cookie) are marked unknown in
// Socket.Unknown rather than guessed. gopsutil's uids are those of the
// owning process, not of the socket, so they are not used either. Its
// owner coverage is at best OwnersPartial: gopsutil names one process per
// socket, where a socket shared after fork has several.
type Gopsutil struct {
	opts   Options
	states atomic.Uint32
	told   notices

	mu      sync.Mutex
	names   map[int32]string
	pending []string // notices to give with the first snapshot
}

// NewGopsutil returns a gopsutil-backed source with the given options.
// Options.TCPInfo is ignored: gopsutil has no tcp_info.
func NewGopsutil(opts Options) *Gopsutil {
	g := &Gopsutil{opts: opts, names: make(map[int32]string)}
	g.states.Store(uint32(opts.States))
	return g
}

// SetStates changes the state mask for the next Snapshot; 0 means all
// states. It is safe to call while a Snapshot runs.
func (g *Gopsutil) SetStates(m StateMask) { g.states.Store(uint32(m)) }

// kind returns gopsutil's connection kind for the options.
func (g *Gopsutil) kind() string {
	var p string
	switch {
	case g.opts.wantTCP() && g.opts.wantUDP():
		p = "inet"
	case g.opts.wantTCP():
		p = "tcp"
	default:
		p = "udp"
	}
	switch {
	case g.opts.want4() && g.opts.want6():
		return p
	case g.opts.want4():
		return p + "4"
	}
	return p + "6"
}

// gopsutilStates maps gopsutil's status strings (Linux and BSD spellings)
// to states.
var gopsutilStates = map[string]State{
	"ESTABLISHED":  StateEstablished,
	"SYN_SENT":     StateSynSent,
	"SYN_RECV":     StateSynRecv,
	"SYN_RECEIVED": StateSynRecv,
	"FIN_WAIT1":    StateFinWait1,
	"FIN_WAIT_1":   StateFinWait1,
	"FIN_WAIT2":    StateFinWait2,
	"FIN_WAIT_2":   StateFinWait2,
	"TIME_WAIT":    StateTimeWait,
	"CLOSE":        StateClosed,
	"CLOSED":       StateClosed,
	"CLOSE_WAIT":   StateCloseWait,
	"LAST_ACK":     StateLastAck,
	"LISTEN":       StateListen,
	"CLOSING":      StateClosing,
}

// noticeGopsutilUnix is told when Options.Unix asks gopsutil for Unix
// sockets: its Unix listing has no inodes, peers or queues to show.
const noticeGopsutilUnix = "the gopsutil source does not list Unix sockets (-x needs sock_diag)"

// Snapshot lists the sockets gopsutil sees, in its order. Unix sockets are
// left out, with a Notice, when Options.Unix asks for them.
func (g *Gopsutil) Snapshot(ctx context.Context) (Snapshot, error) {
	var conns []gnet.ConnectionStat
	if g.opts.wantTCP() || g.opts.wantUDP() {
		var err error
		conns, err = gnet.ConnectionsWithoutUidsWithContext(ctx, g.kind())
		if err != nil {
			return Snapshot{}, fmt.Errorf("collect: gopsutil connections: %w", err)
		}
	}
	snap := Snapshot{Taken: time.Now(), Source: "gopsutil"}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, msg := range g.pending {
		g.told.add(&snap, msg)
	}
	g.pending = nil
	if g.opts.Unix {
		snap.Partial = true
		g.told.add(&snap, noticeGopsutilUnix)
	}
	// The columns gopsutil cannot fill print as "?"; say once why.
	g.told.add(&snap, noticeGopsutilFields)
	if g.opts.Owners {
		snap.Owners = OwnersPartial
	}
	// Without root, a socket with no pid may belong to another user's
	// process that gopsutil could not read.
	root := os.Geteuid() == 0
	mask := StateMask(g.states.Load())
	seen := make(map[int32]string, len(g.names))
	socks := make([]Socket, 0, len(conns))
	for i := range conns {
		s, ok := fromConnection(&conns[i])
		if !ok || (mask != 0 && !mask.Has(s.State)) {
			continue
		}
		if g.opts.Owners && conns[i].Pid > 0 {
			pid := conns[i].Pid
			name, ok := seen[pid]
			if !ok {
				name, ok = g.names[pid]
				if !ok {
					name = processName(pid)
				}
				seen[pid] = name
			}
			s.Owners = []Owner{{PID: int(pid), Name: name}}
		}
		if !g.opts.Owners || (len(s.Owners) == 0 && !root && hasDescriptor(s.State)) {
			s.Unknown |= FieldOwners
		}
		socks = append(socks, s)
	}
	// Names of processes no longer seen are dropped, so a reused pid is
	// looked up again.
	g.names = seen
	snap.Sockets = socks
	return snap, nil
}

// noticeGopsutilFields tells the user which columns the gopsutil source
// leaves empty.
const noticeGopsutilFields = "gopsutil source: Recv-Q, Send-Q, timers, retransmits, inodes and socket uids are not available here: shown as ? (absent from JSON); one owner per socket at most"

// gopsutilUnknown are the fields gopsutil never reports.
const gopsutilUnknown = FieldRecvQ | FieldSendQ | FieldUID | FieldInode | FieldTimer | FieldRetrans | FieldCookie | FieldIfindex | FieldMark | FieldCgroup

// hasDescriptor reports whether a socket in state st may be held by a
// process. TIME_WAIT mini-sockets and request sockets (SYN_RECV) never
// are, so an empty owner list is known for them without an inode.
func hasDescriptor(st State) bool {
	switch st {
	case StateTimeWait, StateSynRecv, StateNewSynRecv:
		return false
	}
	return true
}

// fromConnection converts what gopsutil reports; ok is false for a socket
// that is neither TCP nor UDP over IPv4 or IPv6.
func fromConnection(c *gnet.ConnectionStat) (Socket, bool) {
	s := Socket{Unknown: gopsutilUnknown}
	switch c.Type {
	case syscall.SOCK_STREAM:
		s.Proto = TCP
	case syscall.SOCK_DGRAM:
		s.Proto = UDP
	default:
		return s, false
	}
	switch c.Family {
	case syscall.AF_INET:
		s.Family = 4
	case syscall.AF_INET6:
		s.Family = 6
	default:
		return s, false
	}
	s.Local = gopsutilAddr(c.Laddr, s.Family)
	s.Remote = gopsutilAddr(c.Raddr, s.Family)
	if s.Proto == UDP {
		// gopsutil says "NONE" for UDP; a fixed peer is what makes a UDP
		// socket ESTABLISHED, and gopsutil does report the peer.
		s.State = StateUnconn
		if s.Remote.Port() != 0 {
			s.State = StateEstablished
		}
	} else {
		s.State = gopsutilStates[c.Status]
	}
	return s, true
}

// gopsutilAddr parses an endpoint; an empty or unparsable address is the
// unspecified one of the family. gopsutil prints an IPv4-mapped address
// as plain IPv4, so on an IPv6 socket it is mapped back to 16 bytes.
func gopsutilAddr(a gnet.Addr, family uint8) netip.AddrPort {
	ip, err := netip.ParseAddr(a.IP)
	if err != nil {
		ip = netip.IPv4Unspecified()
		if family == 6 {
			ip = netip.IPv6Unspecified()
		}
	}
	if family == 6 && ip.Is4() {
		ip = netip.AddrFrom16(ip.As16())
	}
	return netip.AddrPortFrom(ip, uint16(a.Port))
}
