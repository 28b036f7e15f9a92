package filter

import "socktop/collect"

// PortBound returns a bound by ports of what the kernel program for
// proto accepts (see collect.PortSet), over both families: every socket
// the program for a dump of proto accepts has a port the set holds at
// that end. ok is false when the filter gives no such bound: a
// condition on addresses, states or processes alone, a "!=" or a "not".
// The bound is read from the same conditions the bytecode is compiled
// from, so it is never narrower than the program.
func (f *Filter) PortBound(proto collect.Proto) (collect.PortSet, bool) {
	if f == nil {
		return collect.PortSet{}, false
	}
	return kportBound(specialise(f.kernel.up(), proto, 0, true))
}

// kportBound bounds e by ports: an and is bounded by its tightest term
// that has a bound, an or by the union of its terms' bounds, which all
// must have one.
func kportBound(e *kexpr) (collect.PortSet, bool) {
	switch e.op {
	case kFalse:
		return collect.PortSet{}, true
	case kPort, kHost:
		if e.port < 0 || e.op == kPort && e.cmp == opNe {
			return collect.PortSet{}, false
		}
		r := portRange(e)
		if e.local {
			return collect.PortSet{Local: []collect.PortRange{r}}, true
		}
		return collect.PortSet{Remote: []collect.PortRange{r}}, true
	case kAnd:
		var best collect.PortSet
		found := false
		for _, t := range e.terms {
			if ps, ok := kportBound(t); ok && (!found || ps.Size() < best.Size()) {
				best, found = ps, true
			}
		}
		return best, found
	case kOr:
		var out collect.PortSet
		for _, t := range e.terms {
			ps, ok := kportBound(t)
			if !ok {
				return collect.PortSet{}, false
			}
			out.Union(ps)
		}
		return out, true
	}
	return collect.PortSet{}, false
}

// portRange is the ports a port condition holds for (a host condition's
// port is an equality). specialise has made every condition that holds
// for no port false, so none is empty here.
func portRange(e *kexpr) collect.PortRange {
	p := uint16(e.port)
	if e.op == kHost {
		return collect.PortRange{Lo: p, Hi: p}
	}
	switch e.cmp {
	case opLe:
		return collect.PortRange{Lo: 0, Hi: p}
	case opGe:
		return collect.PortRange{Lo: p, Hi: 65535}
	case opLt:
		return collect.PortRange{Lo: 0, Hi: p - 1}
	case opGt:
		return collect.PortRange{Lo: p + 1, Hi: 65535}
	}
	return collect.PortRange{Lo: p, Hi: p}
}
