//go:build linux

package collect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// inetDiagProtocol is INET_DIAG_PROTOCOL: the destroy messages carry
	// the protocol in this attribute, since they answer no request that
	// named one.
	inetDiagProtocol = 10
	// closedRcvBuf is the receive buffer the watcher asks for. A burst of
	// closes arrives faster than a reader is scheduled; what the buffer
	// cannot hold is lost, and counted.
	closedRcvBuf = 8 << 20
	// closedBacklog is how many records wait for the consumer before the
	// reader stops reading and the kernel's buffer takes the rest.
	closedBacklog = 4096
	// SO_MEMINFO's array (SK_MEMINFO_VARS) and its drop counter's index.
	skMeminfoVars  = 9
	skMeminfoDrops = 8
)

// destroyGroups are the sock_diag multicast groups the kernel sends every
// destroyed TCP and UDP socket to (SKNLGRP_* in linux/sock_diag.h).
var destroyGroups = [...]int{
	unix.SKNLGRP_INET_TCP_DESTROY,
	unix.SKNLGRP_INET_UDP_DESTROY,
	unix.SKNLGRP_INET6_TCP_DESTROY,
	unix.SKNLGRP_INET6_UDP_DESTROY,
}

// ClosedWatcher reports the TCP and UDP sockets the kernel destroys in
// this network namespace, IPv4 and IPv6, as `ss -E` does. It needs no
// privilege. It reads on a goroutine of its own from the time it is made
// until Close, and hands the records to the channel Closed returns, or in
// batches to the function given to WatchClosedFunc.
//
// Records the kernel could not queue because the watcher's receive buffer
// was full are lost, and counted by Lost; reading goes on after a loss. A
// consumer that falls behind causes such losses, never a block of the
// kernel or of the watcher's Close.
type ClosedWatcher struct {
	file *os.File
	now  func() time.Time
	out  chan Closed
	// emit receives each batch; nil sends the records on out.
	emit func([]Closed)
	// coalesce is how long the reader lets records gather after a small
	// batch.
	coalesce time.Duration
	done     chan struct{}
	// stopped is closed when the reader has returned.
	stopped chan struct{}
	lost    atomic.Uint64
	bad     atomic.Uint64
	once    sync.Once
	err     error // why the reader stopped, other than Close; read after stopped
}

// closedBatch bounds the records read before a batch is handed on, so a
// sustained burst still reaches the consumer in pieces.
const closedBatch = 512

// closedCoalesce is how long the reader lets records gather after a small
// batch: far below a refresh, and a bound on the wakeups per second. The
// receive buffer holds tens of thousands of records meanwhile.
const closedCoalesce = 50 * time.Millisecond

// WatchClosed opens a NETLINK_SOCK_DIAG socket, joins the four destroy
// groups and starts reading. now stamps each record's Received; nil means
// time.Now.
func WatchClosed(now func() time.Time) (*ClosedWatcher, error) {
	return watchClosed(now, closedRcvBuf, closedBacklog, nil)
}

// WatchClosedFunc is WatchClosed handing the records to emit instead of a
// channel, in batches, from the reader's goroutine: a batch is what the
// kernel had queued when the reader woke, read with few system calls.
// emit must not keep the slice, which the next batch reuses; the reader
// waits for emit to return, and meanwhile the kernel's buffer takes what
// comes (and drops, counted, what it cannot hold). Closed returns a
// channel that is closed when the watcher stops and carries nothing.
func WatchClosedFunc(now func() time.Time, emit func([]Closed)) (*ClosedWatcher, error) {
	if emit == nil {
		return nil, fmt.Errorf("collect: WatchClosedFunc without a function")
	}
	return watchClosed(now, closedRcvBuf, 0, emit)
}

// watchClosed is WatchClosed with the receive buffer and the channel's
// length given, so a test can make the kernel drop messages.
func watchClosed(now func() time.Time, rcvBuf, backlog int, emit func([]Closed)) (*ClosedWatcher, error) {
	if now == nil {
		now = time.Now
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("collect: netlink sock_diag socket: %w", err)
	}
	if err := joinDestroyGroups(fd, rcvBuf); err != nil {
		unix.Close(fd)
		return nil, err
	}
	w := &ClosedWatcher{
		// The runtime's poller then wakes the reader, and Close of the
		// file ends a read that is waiting.
		file:     os.NewFile(uintptr(fd), "sock_diag destroy"),
		now:      now,
		out:      make(chan Closed, backlog),
		emit:     emit,
		coalesce: closedCoalesce,
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	go w.read()
	return w, nil
}

// joinDestroyGroups raises fd's receive buffer and joins the destroy
// groups. SO_RCVBUFFORCE passes net.core.rmem_max but needs
// CAP_NET_ADMIN; without it SO_RCVBUF gets what rmem_max allows.
func joinDestroyGroups(fd, rcvBuf int) error {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf); err != nil {
			return fmt.Errorf("collect: SO_RCVBUF on the sock_diag destroy socket: %w", err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("collect: binding the sock_diag destroy socket: %w", err)
	}
	for _, g := range destroyGroups {
		if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, g); err != nil {
			return fmt.Errorf("collect: joining sock_diag group %d: %w", g, err)
		}
	}
	return nil
}

// Closed returns the channel the records arrive on. It is closed when the
// watcher stops: after Close, or when reading failed (see Err). A watcher
// made by WatchClosedFunc sends nothing on it.
func (w *ClosedWatcher) Closed() <-chan Closed { return w.out }

// Lost returns how many times the kernel dropped destroy messages because
// the receive buffer was full (ENOBUFS). Each count stands for one or more
// records.
func (w *ClosedWatcher) Lost() uint64 { return w.lost.Load() }

// Dropped returns the kernel's count of messages it could not queue on
// the watcher's socket (SK_MEMINFO_DROPS): the records Lost stands for,
// one by one. It fails once the watcher is closed.
func (w *ClosedWatcher) Dropped() (uint64, error) {
	rc, err := w.file.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("collect: sock_diag destroy socket: %w", err)
	}
	var mem [skMeminfoVars]uint32
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		l := uint32(unsafe.Sizeof(mem))
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&mem[0])), uintptr(unsafe.Pointer(&l)), 0)
		if e != 0 {
			gerr = e
		} else if l < uint32(4*(skMeminfoDrops+1)) {
			gerr = fmt.Errorf("SO_MEMINFO of %d bytes", l)
		}
	}); err != nil {
		return 0, fmt.Errorf("collect: sock_diag destroy socket: %w", err)
	}
	if gerr != nil {
		return 0, fmt.Errorf("collect: SO_MEMINFO on the sock_diag destroy socket: %w", gerr)
	}
	return uint64(mem[skMeminfoDrops]), nil
}

// Malformed returns how many datagrams could not be parsed; the records
// in them, from where parsing stopped, are missing.
func (w *ClosedWatcher) Malformed() uint64 { return w.bad.Load() }

// Err returns why the watcher stopped on its own, once the channel of
// Closed is closed; nil while it runs and after Close.
func (w *ClosedWatcher) Err() error {
	select {
	case <-w.stopped:
		return w.err
	default:
		return nil
	}
}

// Close stops the watcher and waits for its reader to return. It may be
// called more than once.
func (w *ClosedWatcher) Close() error {
	var err error
	w.once.Do(func() {
		close(w.done)
		err = w.file.Close()
		<-w.stopped
	})
	return err
}

// read is the watcher's goroutine.
func (w *ClosedWatcher) read() {
	defer close(w.stopped)
	defer close(w.out)
	rc, err := w.file.SyscallConn()
	if err != nil {
		w.err = fmt.Errorf("collect: sock_diag destroy socket: %w", err)
		return
	}
	mb := newMmsgBuf()
	batch := make([]Closed, 0, closedBatch)
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	for {
		batch = batch[:0]
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			batch, rerr = w.readBatch(int(fd), mb, batch)
			// Nothing read yet: wait for the kernel.
			return len(batch) > 0 || rerr != unix.EAGAIN
		})
		select {
		case <-w.done:
			return
		default:
		}
		if err != nil {
			w.err = fmt.Errorf("collect: reading sock_diag destroy messages: %w", err)
			return
		}
		n := len(batch)
		if n > 0 && !w.hand(batch) {
			return
		}
		if rerr != nil && rerr != unix.EAGAIN {
			w.err = fmt.Errorf("collect: reading sock_diag destroy messages: %w", rerr)
			return
		}
		// A trickle of closes would cost a wakeup each; letting a few
		// gather first costs a consumer nothing it can see.
		if n < closedBatch/4 && w.coalesce > 0 {
			pause.Reset(w.coalesce)
			select {
			case <-pause.C:
			case <-w.done:
				pause.Stop()
				return
			}
		}
	}
}

// readBatch appends the records waiting on fd to batch, until the kernel
// has no more (EAGAIN) or the batch holds closedBatch. An ENOBUFS is
// counted and reading goes on; another error ends the batch.
func (w *ClosedWatcher) readBatch(fd int, mb *mmsgBuf, batch []Closed) ([]Closed, error) {
	for len(batch) < closedBatch {
		n, err := mb.recv(fd)
		if err == unix.ENOBUFS {
			w.lost.Add(1)
			continue
		}
		if err != nil {
			return batch, err
		}
		at := w.now()
		for i := range n {
			b, ok := mb.datagram(i)
			if !ok {
				w.bad.Add(1)
				continue
			}
			if err := walkClosed(b, func(c Closed) bool {
				c.Received = at
				batch = append(batch, c)
				return true
			}); err != nil {
				// One malformed datagram says nothing of the next.
				w.bad.Add(1)
			}
		}
	}
	return batch, nil
}

// hand gives a batch to the consumer; false means Close came while the
// reader waited on the channel.
func (w *ClosedWatcher) hand(batch []Closed) bool {
	if w.emit != nil {
		w.emit(batch)
		return true
	}
	for _, c := range batch {
		select {
		case w.out <- c:
		case <-w.done:
			return false
		}
	}
	return true
}

// walkClosed parses the netlink messages of one destroy datagram and
// calls each with every record, until each returns false. Messages of
// other types are skipped.
func walkClosed(b []byte, each func(Closed) bool) error {
	ne := binary.NativeEndian
	for len(b) >= nlmsgHdrLen {
		l := int(ne.Uint32(b[0:]))
		if l < nlmsgHdrLen || l > len(b) {
			return fmt.Errorf("netlink message length %d out of %d bytes", l, len(b))
		}
		typ := ne.Uint16(b[4:])
		msg := b[nlmsgHdrLen:l]
		b = b[min(nlmsgAlign(l), len(b)):]
		if typ != sockDiagByFam {
			continue
		}
		c, err := parseClosed(msg)
		if err != nil {
			return err
		}
		if !each(c) {
			return nil
		}
	}
	return nil
}

var errNoProtocol = errors.New("destroy message without INET_DIAG_PROTOCOL")

// parseClosed reads one destroy message: an inet_diag_msg followed by its
// attributes, INET_DIAG_PROTOCOL always and INET_DIAG_INFO for TCP.
func parseClosed(msg []byte) (Closed, error) {
	if len(msg) < inetDiagMsgLen {
		return Closed{}, fmt.Errorf("inet_diag_msg of %d bytes", len(msg))
	}
	attrs := msg[inetDiagMsgLen:]
	p := findAttr(attrs, inetDiagProtocol)
	if len(p) < 1 {
		return Closed{}, errNoProtocol
	}
	switch p[0] {
	case unix.IPPROTO_TCP, unix.IPPROTO_UDP:
	default:
		return Closed{}, fmt.Errorf("destroy message for protocol %d", p[0])
	}
	var s Socket
	decodeDiagMsg(&s, msg, p[0])
	c := Closed{Proto: s.Proto, Family: s.Family, State: s.State, Local: s.Local, Remote: s.Remote, Cookie: s.Cookie}
	if s.Proto == TCP {
		if raw := findAttr(attrs, inetDiagInfo); raw != nil {
			c.Info = new(TCPInfo)
			decodeTCPInfo(c.Info, raw)
		}
	}
	return c, nil
}
