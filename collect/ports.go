package collect

import (
	"slices"
	"strconv"
	"strings"
)

// PortRange is the ports from Lo to Hi, both included.
type PortRange struct{ Lo, Hi uint16 }

// PortSet bounds a kernel filter by ports alone: every socket the filter
// accepts has its local port in Local or its remote port in Remote. A
// socket whose ports are in neither cannot be accepted, so the kernel's
// event sources may drop what they would say of it (events.Stream's
// SetScope) before it costs a wakeup and a decode. The zero PortSet
// accepts no socket.
type PortSet struct {
	Local, Remote []PortRange
}

// Has reports whether a socket with these ports may be accepted.
func (p *PortSet) Has(local, remote uint16) bool {
	return inRanges(p.Local, local) || inRanges(p.Remote, remote)
}

func inRanges(rs []PortRange, port uint16) bool {
	for _, r := range rs {
		if r.Lo <= port && port <= r.Hi {
			return true
		}
	}
	return false
}

// Union adds q's ports to p's, the ranges of each end sorted and those
// that overlap or touch merged.
func (p *PortSet) Union(q PortSet) {
	p.Local = normalRanges(append(slices.Clone(p.Local), q.Local...))
	p.Remote = normalRanges(append(slices.Clone(p.Remote), q.Remote...))
}

// Size is how many (end, port) pairs the set admits: what one bound is
// weighed by against another.
func (p *PortSet) Size() int { return rangesSize(p.Local) + rangesSize(p.Remote) }

func rangesSize(rs []PortRange) int {
	n := 0
	for _, r := range rs {
		n += int(r.Hi) - int(r.Lo) + 1
	}
	return n
}

// String is the set as "local 80,8000-8080 remote 443", to compare two
// sets and to name one in a test's failure.
func (p *PortSet) String() string {
	var b strings.Builder
	write := func(name string, rs []PortRange) {
		b.WriteString(name)
		for i, r := range rs {
			if i == 0 {
				b.WriteByte(' ')
			} else {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(int(r.Lo)))
			if r.Hi != r.Lo {
				b.WriteByte('-')
				b.WriteString(strconv.Itoa(int(r.Hi)))
			}
		}
	}
	write("local", p.Local)
	b.WriteByte(' ')
	write("remote", p.Remote)
	return b.String()
}

func normalRanges(rs []PortRange) []PortRange {
	if len(rs) == 0 {
		return nil
	}
	slices.SortFunc(rs, func(a, b PortRange) int { return int(a.Lo) - int(b.Lo) })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if int(r.Lo) <= int(last.Hi)+1 {
			last.Hi = max(last.Hi, r.Hi)
			continue
		}
		out = append(out, r)
	}
	return out
}
