package ui

import (
	"context"
	"slices"
	"strings"

	"socktop/collect"
	"socktop/filter"
)

// kernelFilterSetter is a source whose dumps a kernel filter can narrow
// (collect.Netlink). The view sets the filter in the collection's Cmd,
// never in Update.
type kernelFilterSetter interface {
	SetKernelFilter(f collect.KernelFilter)
}

// refiller is a source that fills an array the view gives back
// (collect.Netlink.SnapshotInto); see the Snapshot type for the rule.
type refiller interface {
	SnapshotInto(ctx context.Context, buf []collect.Socket) (collect.Snapshot, error)
}

// kernelFilter is what the view asks the kernel for: the filter's
// bytecode, and no dump at all of a protocol or family the narrowing
// flags hide. It leaves states to the view: a state condition would
// narrow by something that changes over a socket's life, and a socket
// leaving the states asked for would look gone (a sampled X -> -, a red
// row, a closed-log entry) while it lives on, and come back as new.
type kernelFilter struct {
	f      *filter.Filter
	narrow Narrow
}

// Bytecode implements collect.KernelFilter.
func (k *kernelFilter) Bytecode(proto collect.Proto, family uint8) []byte {
	if !k.narrow.mayKeep(proto, family) {
		return []byte{}
	}
	return k.f.Bytecode(proto, family)
}

// Needs implements collect.FieldNeeder, so the source tells when the
// filter reads what its dump could not report.
func (k *kernelFilter) Needs() collect.Fields { return k.f.Needs() }

// mayKeep reports whether the flags keep any socket of proto in a dump of
// family (0: both families in one walk). The states -l keeps are the
// view's to check, like the filter's.
func (n Narrow) mayKeep(proto collect.Proto, family uint8) bool {
	st := collect.StateListen
	if proto == collect.UDP {
		st = collect.StateUnconn
	}
	fams := []uint8{family}
	if family == 0 {
		fams = []uint8{4, 6}
	}
	for _, f := range fams {
		if n.Match(&collect.Socket{Proto: proto, Family: f, State: st}) {
			return true
		}
	}
	return false
}

// kernelDumps are the dumps a source may make: each protocol over both
// families in one walk, and over each.
var kernelDumps = [...]struct {
	proto  collect.Proto
	family uint8
}{{collect.TCP, 0}, {collect.TCP, 4}, {collect.TCP, 6}, {collect.UDP, 0}, {collect.UDP, 4}, {collect.UDP, 6}}

// kernelState is the kernel filter the view has asked for and the one
// the shown listing was taken with. gen counts the changes of what the
// kernel is asked; a snapshot carries the gen it was taken with, and the
// first one of a new gen rebases the tracker.
type kernelState struct {
	f      *filter.Filter // the filter want was worked out for
	demos  bool           // whether a demo ran then
	inited bool
	want   collect.KernelFilter // nil: dump everything
	sig    string               // want's programs, to tell a real change
	gen    uint64
	shown  uint64 // the gen of the last snapshot received
}

// kernelWant returns the kernel filter for the next collection and its
// gen. While a demo runs the kernel sends everything: a run checks its
// promises against the same snapshots, whatever the table's filter.
func (m *model) kernelWant() (collect.KernelFilter, uint64) {
	k := &m.kern
	if _, ok := m.src.(kernelFilterSetter); !ok {
		return nil, k.gen
	}
	demos := m.demos.active()
	if k.inited && k.f == m.filter && k.demos == demos {
		return k.want, k.gen
	}
	k.inited, k.f, k.demos = true, m.filter, demos
	var want collect.KernelFilter
	var sig strings.Builder
	if !demos {
		kf := &kernelFilter{f: m.filter, narrow: m.narrow}
		narrows := false
		for _, d := range kernelDumps {
			bc := kf.Bytecode(d.proto, d.family)
			if bc != nil {
				narrows = true
				sig.WriteByte(1)
			} else {
				sig.WriteByte(0)
			}
			sig.WriteByte(byte(len(bc)))
			sig.WriteByte(byte(len(bc) >> 8))
			sig.Write(bc)
		}
		if narrows {
			want = kf
		}
	}
	if s := sig.String(); s != k.sig {
		k.sig, k.gen = s, k.gen+1
	}
	k.want = want
	return want, k.gen
}

// sameSockets reports whether two listings hold the same rows in the same
// order, field for field: what the view would show of them is the same.
func sameSockets(a, b []collect.Socket) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameSocket(&a[i], &b[i]) {
			return false
		}
	}
	return true
}

// sameSocket compares every field of two rows; a row with tcp_info is
// never the same (its figures are not compared), and owners and rates
// are compared by value.
func sameSocket(x, y *collect.Socket) bool {
	if x.Info != nil || y.Info != nil || !slices.Equal(x.Owners, y.Owners) {
		return false
	}
	if (x.Rate == nil) != (y.Rate == nil) || x.Rate != nil && *x.Rate != *y.Rate {
		return false
	}
	return x.Proto == y.Proto && x.Family == y.Family && x.State == y.State &&
		x.Local == y.Local && x.Remote == y.Remote && x.RecvQ == y.RecvQ && x.SendQ == y.SendQ &&
		x.UID == y.UID && x.Inode == y.Inode && x.Timer == y.Timer && x.TimerLeft == y.TimerLeft &&
		x.Retrans == y.Retrans && x.Cookie == y.Cookie && x.Ifindex == y.Ifindex && x.NetNS == y.NetNS &&
		x.Path == y.Path && x.Type == y.Type && x.PeerInode == y.PeerInode && x.Unknown == y.Unknown &&
		x.Mark == y.Mark && x.CgroupID == y.CgroupID
}
