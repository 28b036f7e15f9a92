package collect

// edges are the arcs of the TCP state diagram (RFC 793 as drawn by
// Stevens, with Linux's simultaneous open), indexed by canonical state:
// edges[from] has bit to set when one segment or one call can take a
// socket from `from` to `to`. Any state can fall to CLOSED (a RST, an
// abort, a timeout), so that column is not listed here.
var edges = func() [NumStates]StateMask {
	var e [NumStates]StateMask
	for _, a := range [][2]State{
		{StateClosed, StateListen},
		{StateClosed, StateSynSent},
		{StateListen, StateSynRecv},
		{StateListen, StateSynSent},
		{StateSynSent, StateSynRecv},
		{StateSynSent, StateEstablished},
		{StateSynRecv, StateEstablished},
		{StateSynRecv, StateFinWait1},
		{StateSynRecv, StateListen},
		{StateEstablished, StateFinWait1},
		{StateEstablished, StateCloseWait},
		{StateFinWait1, StateFinWait2},
		{StateFinWait1, StateClosing},
		{StateFinWait1, StateTimeWait},
		{StateFinWait2, StateTimeWait},
		{StateClosing, StateTimeWait},
		{StateCloseWait, StateLastAck},
	} {
		e[a[0]] |= 1 << a[1]
	}
	return e
}()

// IsEdge reports whether a TCP socket can go from one state to the other
// in a single step of the state diagram: one segment received, one call
// made or one timer fired. A change between two snapshots that is not an
// edge is a jump: the socket went through states no snapshot caught.
// Every state can step to CLOSED (RST, abort, timeout), and a state does
// not step to itself. StateUnknown (appeared, gone) is never an edge: the
// caller shows those as what they are. Aliases (NEW_SYN_RECV,
// BOUND_INACTIVE) count as the states they are shown as.
func IsEdge(from, to State) bool {
	from, to = from.Canonical(), to.Canonical()
	if from == StateUnknown || to == StateUnknown || from >= NumStates || to >= NumStates || from == to {
		return false
	}
	if to == StateClosed {
		return from != StateUnconn
	}
	return edges[from].Has(to)
}
