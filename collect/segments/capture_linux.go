//go:build linux

package segments

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxBuffered bounds what a Capture holds between two Drains; segments
// beyond it are counted in Lost, not kept.
const maxBuffered = 1 << 16

// Capture reads the TCP segments opts select, on a goroutine of its own,
// until Close.
type Capture struct {
	file *os.File
	raw  syscall.RawConn
	// loopback: every packet passes the tap twice, going out and coming
	// in; only the incoming copy is kept.
	loopback bool
	// wall and real anchor the kernel's CLOCK_REALTIME packet stamps to
	// a time.Time with Go's monotonic reading, so segments order against
	// kernel state events and time.Now() values by that reading.
	wall time.Time
	real int64

	mu       sync.Mutex
	segs     []Segment
	max      int
	overflow uint64 // segments not kept for want of room
	drops    uint64 // the kernel's count of packets its queue had no room for
	err      error  // why the reader stopped, other than Close

	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Start opens the capture: a packet socket on opts.Ifindex (the loopback
// interface when 0) with a kernel filter that passes only TCP segments
// with one of opts.Ports at either end. Without CAP_NET_RAW its error
// wraps ErrUnavailable.
func Start(opts Options) (*Capture, error) {
	ports := slices.Clone(opts.Ports)
	slices.Sort(ports)
	ports = slices.Compact(ports)
	if slices.Contains(ports, 0) {
		return nil, fmt.Errorf("segments: port 0 cannot be captured")
	}
	prog, err := portFilter(ports)
	if err != nil {
		return nil, err
	}
	ifc, err := captureInterface(opts.Ifindex)
	if err != nil {
		return nil, err
	}
	// Protocol 0: the socket receives nothing until bind names one, so
	// no unfiltered packet can queue before the filter is on.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("%w: a packet socket needs CAP_NET_RAW (%w); the segments of the time-sequence diagram are lost; run as root, or grant it with `setcap cap_net_raw+ep` on the binary", ErrUnavailable, err)
		}
		return nil, fmt.Errorf("%w: packet socket: %w", ErrUnavailable, err)
	}
	c := &Capture{loopback: ifc.Flags&net.FlagLoopback != 0, max: maxBuffered, done: make(chan struct{})}
	if err := c.setup(fd, ifc.Index, prog); err != nil {
		unix.Close(fd)
		return nil, err
	}
	c.file = os.NewFile(uintptr(fd), "packet:"+ifc.Name)
	if c.raw, err = c.file.SyscallConn(); err != nil {
		c.file.Close()
		return nil, fmt.Errorf("segments: %w", err)
	}
	go c.run()
	return c, nil
}

// captureInterface returns the interface of index ifindex, or when it is
// 0 the loopback interface, known by its flags rather than its name.
func captureInterface(ifindex int) (*net.Interface, error) {
	if ifindex != 0 {
		ifc, err := net.InterfaceByIndex(ifindex)
		if err != nil {
			return nil, fmt.Errorf("segments: interface %d: %w", ifindex, err)
		}
		return ifc, nil
	}
	ifcs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("segments: listing interfaces: %w", err)
	}
	for i := range ifcs {
		if ifcs[i].Flags&net.FlagLoopback != 0 {
			return &ifcs[i], nil
		}
	}
	return nil, fmt.Errorf("segments: no loopback interface in this network namespace")
}

// setup readies fd: the filter first, then timestamps and buffers, then
// bind, which starts the flow of packets.
func (c *Capture) setup(fd, ifindex int, prog []unix.SockFilter) error {
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("segments: attaching the port filter: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fmt.Errorf("segments: SO_TIMESTAMPNS: %w", err)
	}
	if c.loopback {
		// Spares the kernel the outgoing copy; run drops it too, for
		// kernels before 4.20 that refuse the option.
		_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	}
	const rcvbuf = 4 << 20
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
	}
	c.anchorClock()
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("segments: binding the packet socket to interface %d: %w", ifindex, err)
	}
	// A protocol-0 socket queues nothing before bind; this drain is for
	// kernels that think otherwise.
	buf := make([]byte, 1)
	for {
		if _, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT); err != nil {
			break
		}
	}
	return nil
}

// anchorClock reads the wall clock through Go and through the kernel
// back to back.
func (c *Capture) anchorClock() {
	var ts unix.Timespec
	c.wall = time.Now()
	_ = unix.ClockGettime(unix.CLOCK_REALTIME, &ts)
	c.real = ts.Nano()
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// run reads packets until the socket is closed. It allocates nothing per
// packet: recvmsg goes through one message header made here.
func (c *Capture) run() {
	defer close(c.done)
	var (
		pkt  [snapLen]byte
		oob  [64]byte
		from unix.RawSockaddrLinklayer
		iov  = unix.Iovec{Base: &pkt[0]}
		msg  = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&from)), Iov: &iov, Iovlen: 1, Control: &oob[0]}
		seg  Segment
		n    int
		errn unix.Errno
	)
	iov.SetLen(len(pkt))
	recv := func(fd uintptr) bool {
		msg.Namelen = unix.SizeofSockaddrLinklayer
		msg.SetControllen(len(oob))
		r, _, e := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&msg)), unix.MSG_TRUNC)
		n, errn = int(r), e
		return e != unix.EAGAIN
	}
	for {
		if err := c.raw.Read(recv); err != nil {
			return // closed
		}
		switch errn {
		case 0:
		case unix.EINTR:
			continue
		default:
			c.mu.Lock()
			c.err = fmt.Errorf("segments: reading the packet socket: %w", errn)
			c.mu.Unlock()
			return
		}
		if c.loopback && from.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if decode(pkt[:min(n, len(pkt))], n, &seg) != nil {
			continue // the filter passes only TCP; a kernel that disagrees costs nothing
		}
		seg.Time = c.stamp(oob[:msg.Controllen])
		c.mu.Lock()
		if len(c.segs) < c.max {
			c.segs = append(c.segs, seg)
		} else {
			c.overflow++
		}
		c.mu.Unlock()
	}
}

// stamp returns the kernel's receive time from the SCM_TIMESTAMPNS
// control message in oob, or now when there is none.
func (c *Capture) stamp(oob []byte) time.Time {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			break
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && l >= unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{}))) {
			ts := (*unix.Timespec)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
			return c.wall.Add(time.Duration(ts.Nano() - c.real))
		}
		oob = oob[min(unix.CmsgSpace(l-unix.CmsgLen(0)), len(oob)):]
	}
	return time.Now()
}

// Drain appends the segments captured since the last call to dst, in
// the order the kernel delivered them.
func (c *Capture) Drain(dst []Segment) []Segment {
	c.mu.Lock()
	defer c.mu.Unlock()
	dst = append(dst, c.segs...)
	c.segs = c.segs[:0]
	return dst
}

// Lost returns how many segments the capture missed so far: those the
// kernel's queue had no room for, and those that arrived while the
// capture held as many undrained segments as it keeps.
func (c *Capture) Lost() uint64 {
	select {
	case <-c.done:
	default:
		_ = c.raw.Control(func(fd uintptr) {
			st, err := unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
			if err == nil {
				c.mu.Lock()
				c.drops += uint64(st.Drops) // the kernel zeroes its count on each read
				c.mu.Unlock()
			}
		})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.drops + c.overflow
}

// Close stops the capture and closes its socket. Segments not yet
// drained stay drainable. It returns why the reader stopped early, if it
// did.
func (c *Capture) Close() error {
	c.closeOnce.Do(func() {
		c.Lost() // the kernel's drop count dies with the socket
		err := c.file.Close()
		<-c.done
		c.mu.Lock()
		c.closeErr = errors.Join(c.err, err)
		c.mu.Unlock()
	})
	return c.closeErr
}
