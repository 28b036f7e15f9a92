package ui

import (
	"sync"

	"socktop/collect"
	"socktop/collect/events"
)

// scopeSetter is an event stream whose kernel side can leave out what
// the view would drop (events.Stream.SetScope).
type scopeSetter interface {
	SetScope(sc events.Scope) error
}

// kernelScope applies the scopes the model's Cmds carry to the stream,
// newest first: each carries the generation issue gave it in Update, and
// one older than the scope in force is ignored. A walk made before a
// demo started must not narrow the stream after the demo's start widened
// it, whichever Cmd runs last. The Cmds apply the scopes, since a scope
// is a system call.
type kernelScope struct {
	mu     sync.Mutex
	set    scopeSetter
	issued uint64 // the newest generation handed out
	gen    uint64 // the generation of the scope in force
}

// issue hands out the next generation; the model calls it when it makes
// a Cmd that carries a scope. A nil kernelScope (no stream that narrows)
// issues 0.
func (k *kernelScope) issue() uint64 {
	if k == nil {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.issued++
	return k.issued
}

// apply puts sc in force unless a newer scope is. A stream that could
// not narrow reads everything, which costs CPU, not correctness: the
// error is for the notice line.
func (k *kernelScope) apply(gen uint64, sc events.Scope) error {
	if k == nil || k.set == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if gen < k.gen {
		return nil
	}
	k.gen = gen
	return k.set.SetScope(sc)
}

// streamScope is what the kernel may leave out of the stream for the
// next collection, by the same rule the drain drops by (eventScope):
// other namespaces' events when the view lists its own alone, and the
// events and destroy records of sockets outside the port bound of the
// kernel filter's programs (filter.Filter.PortBound). A demo, running
// or starting, keeps everything: its checks read the stream.
func (m *model) streamScope(ns nsScope) events.Scope {
	var sc events.Scope
	if m.demos.active() || m.demos.starting > 0 {
		return sc
	}
	if ns.on {
		sc.NetNS = ns.ns
	}
	kf, _ := m.kernelWant()
	pb, ok := kf.(portBounder)
	if !ok {
		return sc
	}
	if tcp, ok := pb.PortBound(collect.TCP); ok {
		sc.TCP = &tcp
	}
	if udp, ok := pb.PortBound(collect.UDP); ok {
		sc.UDP = &udp
	}
	return sc
}

// portBounder is a kernel filter that bounds its programs by ports.
type portBounder interface {
	PortBound(proto collect.Proto) (collect.PortSet, bool)
}

// PortBound bounds the programs of the view's kernel filter: a protocol
// the narrowing flags hide is dumped by no program, and bounded by the
// empty set.
func (k *kernelFilter) PortBound(proto collect.Proto) (collect.PortSet, bool) {
	if !k.narrow.mayKeep(proto, 0) {
		return collect.PortSet{}, true
	}
	return k.f.PortBound(proto)
}
