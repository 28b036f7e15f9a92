package collect

import "net/netip"

// ListenerHealth is one TCP listener's queues in a snapshot.
type ListenerHealth struct {
	// Index is the listener's position in the Sockets the health was
	// computed from.
	Index int
	// AcceptQueue is the number of connections the kernel completed
	// that wait for accept(): the LISTEN row's Recv-Q (sk_ack_backlog).
	AcceptQueue uint32
	// Backlog is the most the accept queue may hold before the kernel
	// drops handshakes: the LISTEN row's Send-Q (sk_max_ack_backlog,
	// listen()'s backlog capped by net.core.somaxconn).
	Backlog uint32
	// QueueKnown is false when the source could not read Recv-Q or
	// Send-Q; AcceptQueue, Backlog and Full then mean nothing.
	QueueKnown bool
	// SynQueue is the number of request sockets (SYN_RECV) waiting for
	// the final ACK of their handshake. Under tcp_syncookies a full SYN
	// queue sends cookies instead of keeping request sockets, so those
	// handshakes are not counted here (the host's TCPReqQFullDoCookies
	// counts them).
	SynQueue int
	// SynKnown is false when the snapshot could not list request
	// sockets (SYN_RECV was not asked for); SynQueue is then 0 and
	// means unknown.
	SynKnown bool
	// SynShared is true when other listeners share this one's address
	// and port (SO_REUSEPORT): a request socket does not say which of
	// them it belongs to, so SynQueue is the whole group's.
	SynShared bool
}

// Full reports whether the accept queue is full in the kernel's sense
// (sk_acceptq_is_full: ack_backlog > max_ack_backlog): the next
// handshake to complete, and the next SYN, is dropped and counted in
// ListenOverflows. The kernel queues backlog+1 connections, so a queue
// holding exactly Backlog still takes one more and is not full.
func (l *ListenerHealth) Full() bool {
	return l.QueueKnown && l.AcceptQueue > l.Backlog
}

// listenKey is a listening address as request sockets name it.
type listenKey struct {
	ns   uint32
	addr netip.Addr
	port uint16
}

// ListenerIndex computes listener health from snapshots. Its maps are
// kept between calls, so the steady state allocates nothing; the zero
// value is ready to use and is not safe for concurrent use.
type ListenerIndex struct {
	// NoSynRecv says the sockets given to Health lack SYN_RECV rows
	// (their state mask left them out): every SynQueue is then unknown.
	NoSynRecv bool

	byAddr map[listenKey]int32 // first listener of each address, into out
	syn    map[listenKey]int32 // request sockets by local address
	group  []int32             // each listener's first of its address
	out    []ListenerHealth
}

// Health returns the health of every TCP listener of socks, in the order
// of socks, in one pass over them. A request socket is the listener's
// whose address and port it has; failing that the wildcard listener's of
// its family on that port, and for IPv4 a dual-stack [::] listener's,
// the order in which the kernel looks a SYN's listener up. The result is
// reused by the next call.
func (x *ListenerIndex) Health(socks []Socket) []ListenerHealth {
	if x.byAddr == nil {
		x.byAddr = map[listenKey]int32{}
		x.syn = map[listenKey]int32{}
	}
	clear(x.byAddr)
	clear(x.syn)
	x.out, x.group = x.out[:0], x.group[:0]
	for i := range socks {
		s := &socks[i]
		if s.Proto != TCP {
			continue
		}
		switch s.State {
		case StateListen:
			k := listenKey{ns: keyNetNS(s.NetNS.Inode), addr: s.Local.Addr().Unmap(), port: s.Local.Port()}
			n := int32(len(x.out))
			first, dup := x.byAddr[k]
			if !dup {
				x.byAddr[k] = n
				first = n
			}
			x.group = append(x.group, first)
			x.out = append(x.out, ListenerHealth{
				Index:       i,
				AcceptQueue: s.RecvQ,
				Backlog:     s.SendQ,
				QueueKnown:  s.Known(FieldRecvQ) && s.Known(FieldSendQ),
				SynKnown:    !x.NoSynRecv,
				SynShared:   dup,
			})
			if dup {
				x.out[first].SynShared = true
			}
		case StateSynRecv, StateNewSynRecv:
			x.syn[listenKey{ns: keyNetNS(s.NetNS.Inode), addr: s.Local.Addr().Unmap(), port: s.Local.Port()}]++
		}
	}
	if x.NoSynRecv {
		return x.out
	}
	for k, n := range x.syn {
		if l, ok := x.listenerOf(k); ok {
			x.out[l].SynQueue += int(n)
		}
	}
	for i, first := range x.group {
		if int(first) != i {
			x.out[i].SynQueue = x.out[first].SynQueue
		}
	}
	return x.out
}

// listenerOf finds the listener a request socket of local address k
// belongs to.
func (x *ListenerIndex) listenerOf(k listenKey) (int32, bool) {
	if l, ok := x.byAddr[k]; ok {
		return l, true
	}
	addr := k.addr
	if addr.Is4() {
		k.addr = netip.IPv4Unspecified()
	} else {
		k.addr = netip.IPv6Unspecified()
	}
	if l, ok := x.byAddr[k]; ok {
		return l, true
	}
	if addr.Is4() {
		k.addr = netip.IPv6Unspecified()
		if l, ok := x.byAddr[k]; ok {
			return l, true
		}
	}
	return 0, false
}
