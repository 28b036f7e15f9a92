// Package btfmember finds the members of kernel structs in BTF, for the
// BPF programs socktop writes with cilium/ebpf's asm package: collect's
// owner iterator and collect/events' tracepoint reader, which cannot
// share code through each other (collect/events imports collect).
package btfmember

import "github.com/cilium/ebpf/btf"

// Find looks for the member called name in t, a struct or union, and in
// its anonymous members, depth first as C resolves the name. It returns
// the member and its offset from the start of t, in bits.
func Find(t btf.Type, name string) (*btf.Member, btf.Bits, bool) {
	var ms []btf.Member
	switch s := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		ms = s.Members
	case *btf.Union:
		ms = s.Members
	default:
		return nil, 0, false
	}
	for i := range ms {
		m := &ms[i]
		if m.Name == name {
			return m, m.Offset, true
		}
		if m.Name == "" {
			if in, off, ok := Find(m.Type, name); ok {
				return in, m.Offset + off, true
			}
		}
	}
	return nil, 0, false
}
