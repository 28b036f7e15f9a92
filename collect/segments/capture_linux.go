//go:build linux

package segments

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
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
	// ring is the receive ring the kernel writes packets into.
	ring []byte

	mu       sync.Mutex
	segs     []Segment
	max      int
	overflow uint64 // segments not kept for want of room
	drops    uint64 // the kernel's count of packets its queue had no room for

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
		unix.Munmap(c.ring)
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

// The receive ring: frames of frameSize bytes, blocks of ringBlock,
// ringFrames frames in all. A frame holds the ring's header, the
// link-layer address and the snapLen bytes the filter keeps.
const (
	frameSize  = 256
	ringBlock  = 64 << 10
	ringFrames = 4096
)

// setup readies fd: the filter first, then the ring, then bind, which
// starts the flow of packets.
func (c *Capture) setup(fd, ifindex int, prog []unix.SockFilter) error {
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("segments: attaching the port filter: %w", err)
	}
	if c.loopback {
		// Spares the kernel the outgoing copy; run drops it too, for
		// kernels before 4.20 that refuse the option.
		_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	}
	// A ring rather than recvmsg: the kernel stamps each frame when the
	// packet reaches the socket, whether or not its timestamping is
	// switched on yet (SO_TIMESTAMPNS switches it on from a work queue,
	// and packets before that get the time they are read), and reading
	// costs no system call per packet.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return fmt.Errorf("segments: TPACKET_V2: %w", err)
	}
	block := max(ringBlock, os.Getpagesize())
	req := unix.TpacketReq{
		Block_size: uint32(block),
		Block_nr:   uint32(ringFrames * frameSize / block),
		Frame_size: frameSize,
		Frame_nr:   ringFrames,
	}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("segments: receive ring: %w", err)
	}
	ring, err := unix.Mmap(fd, 0, ringFrames*frameSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("segments: mapping the receive ring: %w", err)
	}
	c.ring = ring
	c.anchorClock()
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Munmap(ring)
		c.ring = nil
		return fmt.Errorf("segments: binding the packet socket to interface %d: %w", ifindex, err)
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

// frame returns the header of ring frame i.
func (c *Capture) frame(i int) *unix.Tpacket2Hdr {
	return (*unix.Tpacket2Hdr)(unsafe.Pointer(&c.ring[i*frameSize]))
}

// The link-layer address follows the frame header, aligned.
const sllOffset = (unix.SizeofTpacket2Hdr + unix.TPACKET_ALIGNMENT - 1) &^ (unix.TPACKET_ALIGNMENT - 1)

// run reads the ring until the socket is closed: it takes each frame the
// kernel has handed over, in order, and gives it back. It allocates
// nothing per packet.
func (c *Capture) run() {
	defer close(c.done)
	var seg Segment
	next := 0
	ready := func(uintptr) bool {
		return atomic.LoadUint32(&c.frame(next).Status)&unix.TP_STATUS_USER != 0
	}
	for {
		if err := c.raw.Read(ready); err != nil {
			return // closed
		}
		for {
			h := c.frame(next)
			st := atomic.LoadUint32(&h.Status)
			if st&unix.TP_STATUS_USER == 0 {
				break
			}
			sll := (*unix.RawSockaddrLinklayer)(unsafe.Pointer(&c.ring[next*frameSize+sllOffset]))
			keep := !(c.loopback && sll.Pkttype == unix.PACKET_OUTGOING)
			if keep && int(h.Net)+int(h.Snaplen) <= frameSize {
				pkt := c.ring[next*frameSize+int(h.Net) : next*frameSize+int(h.Net)+int(h.Snaplen)]
				// The filter passes only TCP; a kernel that disagrees
				// costs nothing but this.
				keep = decode(pkt, int(h.Len), &seg) == nil
			} else {
				keep = false
			}
			if keep {
				seg.Time = c.wall.Add(time.Duration(int64(h.Sec)*1e9 + int64(h.Nsec) - c.real))
				c.mu.Lock()
				if len(c.segs) < c.max {
					c.segs = append(c.segs, seg)
				} else {
					c.overflow++
				}
				c.mu.Unlock()
			}
			atomic.StoreUint32(&h.Status, unix.TP_STATUS_KERNEL)
			next = (next + 1) % ringFrames
		}
	}
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

// Close stops the capture, closes its socket and unmaps its ring.
// Segments not yet drained stay drainable.
func (c *Capture) Close() error {
	c.closeOnce.Do(func() {
		c.Lost() // the kernel's drop count dies with the socket
		err := c.file.Close()
		<-c.done
		err = errors.Join(err, unix.Munmap(c.ring))
		c.closeErr = err
	})
	return c.closeErr
}
