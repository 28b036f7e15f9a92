//go:build linux

package collect

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// patchDump is what a walk would list of one protocol and family: on
// when the walk dumps it at all, and the kernel filter's program for
// that dump (nil: every socket; empty: none, and the dump is skipped).
type patchDump struct {
	on bool
	bc []byte
}

// patchDumps are a walk's dumps by protocol (TCP, UDP) and family (4, 6).
type patchDumps [2][2]patchDump

// patchDumpsLocked works out the dumps a walk would make now, with the
// same programs. A program that tests what a socket can change without
// an event (its interface, its mark) cannot be patched by: the sockets it
// lets through may change unannounced.
func (n *Netlink) patchDumpsLocked() (patchDumps, error) {
	var d patchDumps
	both := n.opts.wantTCP() && n.opts.want4() && n.opts.want6() && !n.noCompat
	for pi, p := range [2]struct {
		want  bool
		proto uint8
	}{{n.opts.wantTCP(), unix.IPPROTO_TCP}, {n.opts.wantUDP(), unix.IPPROTO_UDP}} {
		for fi, f := range [2]struct {
			want bool
			af   uint8
		}{{n.opts.want4(), unix.AF_INET}, {n.opts.want6(), unix.AF_INET6}} {
			if !p.want || !f.want || n.skips(p.proto) {
				continue
			}
			af := f.af
			if p.proto == unix.IPPROTO_TCP && both {
				af = unix.AF_UNSPEC // one walk of both families, one program
			}
			bc := n.bytecode(p.proto, af)
			if bc != nil && BytecodeSilent(bc) {
				return d, fmt.Errorf("collect: patch: the kernel filter tests what changes unannounced: %w", ErrNoPatch)
			}
			d[pi][fi] = patchDump{on: bc == nil || len(bc) > 0, bc: bc}
		}
	}
	return d, nil
}

// narrowed reports whether a walk would list less than the namespace's
// whole table: a program narrows a dump, or a protocol or family is not
// dumped.
func (d *patchDumps) narrowed() bool {
	for pi := range d {
		for fi := range d[pi] {
			if x := &d[pi][fi]; !x.on || x.bc != nil {
				return true
			}
		}
	}
	return false
}

// filtered reports whether a program narrowed a dump (Snapshot.Filtered).
func (d *patchDumps) filtered() bool {
	for pi := range d {
		for fi := range d[pi] {
			if d[pi][fi].bc != nil {
				return true
			}
		}
	}
	return false
}

// accepts reports whether a walk would list s, as the kernel runs its
// dump's program. whole says s is the kernel's own answer, every field
// filled; an event's or record's socket has no cgroup, so a program that
// tests one is not decided for it (ok false). ok is false too for a
// program the interpreter cannot run.
func (d *patchDumps) accepts(s *Socket, whole bool) (yes, ok bool) {
	pi, fi := 0, 0
	switch s.Proto {
	case TCP:
	case UDP:
		pi = 1
	default:
		return false, true
	}
	switch s.Family {
	case 4:
	case 6:
		fi = 1
	default:
		return false, true
	}
	x := &d[pi][fi]
	switch {
	case !x.on:
		return false, true
	case x.bc == nil:
		return true, true
	case !whole && bytecodeHas(x.bc, BCCgroupCond):
		return false, false
	}
	return RunBytecode(x.bc, s)
}

// counted zeroes the UDP counters of a family whose UDP dump lists
// nothing: no UDP socket of it can change the table.
func (d *patchDumps) counted(c SockCounters) SockCounters {
	if !d[1][0].on {
		c.UDPInUse = 0
	}
	if !d[1][1].on {
		c.UDP6InUse = 0
	}
	return c
}
