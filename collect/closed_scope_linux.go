//go:build linux

package collect

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Where a destroy message holds the ports, from the start of its netlink
// header: struct inet_diag_msg's id.idiag_sport and idiag_dport, in
// network order, as a classic BPF load reads them.
const (
	closedSportOff = nlmsgHdrLen + 4
	closedDportOff = nlmsgHdrLen + 6
)

// maxClosedRanges bounds the ranges SetPorts compiles: a classic BPF
// jump reaches 255 instructions on.
const maxClosedRanges = 100

// SetPorts makes the kernel drop the destroy records of sockets whose
// ports ps rules out (see PortSet) before they are queued for the
// watcher, with a classic BPF filter on its socket; nil takes the filter
// off. Records already queued are read as before. A set of more ranges
// than a filter can test leaves every record in, and so does an error,
// which says why.
func (w *ClosedWatcher) SetPorts(ps *PortSet) error {
	var prog []unix.SockFilter
	if ps != nil && len(ps.Local)+len(ps.Remote) <= maxClosedRanges {
		prog = portFilter(ps)
	}
	raw, err := w.file.SyscallConn()
	if err != nil {
		return fmt.Errorf("collect: the destroy socket: %w", err)
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		if prog == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0)
			if errors.Is(serr, unix.ENOENT) {
				serr = nil // none was attached
			}
			return
		}
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
			&unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]})
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("collect: the destroy socket's port filter: %w", err)
	}
	return nil
}

// portFilter is the classic BPF program that keeps a destroy message
// whose local port is in ps.Local or remote port in ps.Remote. A range
// is two tests, a single port one; each jumps to the accept at the end.
func portFilter(ps *PortSet) []unix.SockFilter {
	const (
		ldh  = unix.BPF_LD | unix.BPF_H | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jge  = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jgt  = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
		ret  = unix.BPF_RET | unix.BPF_K
		drop = 0
		keep = 0xffffffff // more than any message: nothing is trimmed
	)
	var p []unix.SockFilter
	// The tests that jump to the accept, on true (an equality) or on
	// false (a range's "above Hi?"), resolved once its place is known.
	type jump struct {
		at     int
		onTrue bool
	}
	var toAccept []jump
	tests := func(off uint32, rs []PortRange) {
		p = append(p, unix.SockFilter{Code: ldh, K: off})
		for _, r := range rs {
			if r.Lo == r.Hi {
				toAccept = append(toAccept, jump{len(p), true})
				p = append(p, unix.SockFilter{Code: jeq, K: uint32(r.Lo)})
				continue
			}
			// Below Lo or above Hi: on to the next range; between:
			// accept.
			p = append(p, unix.SockFilter{Code: jge, K: uint32(r.Lo), Jt: 0, Jf: 1})
			toAccept = append(toAccept, jump{len(p), false})
			p = append(p, unix.SockFilter{Code: jgt, K: uint32(r.Hi)})
		}
	}
	tests(closedSportOff, ps.Local)
	tests(closedDportOff, ps.Remote)
	p = append(p, unix.SockFilter{Code: ret, K: drop})
	accept := len(p)
	p = append(p, unix.SockFilter{Code: ret, K: keep})
	for _, j := range toAccept {
		if j.onTrue {
			p[j.at].Jt = uint8(accept - j.at - 1)
		} else {
			p[j.at].Jf = uint8(accept - j.at - 1)
		}
	}
	return p
}
