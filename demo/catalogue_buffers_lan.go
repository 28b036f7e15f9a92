package demo

import "net/netip"

// lanRate is the material's "10 Mbps ethernet".
const lanRate = 10_000_000

// lanUnavailable says why this run cannot measure the lan setting (and
// what the table loses), or "" when it can.
func lanUnavailable() string {
	if why := labAllowed(); why != "" {
		return "lan rows skipped (" + why + "): the 10 Mbps LAN column needs root, for a network namespace, " +
			"a veth pair and a tc tbf qdisc; the other settings are measured"
	}
	return ""
}

// measureLAN runs the grid across a veth pair into a namespace of the
// run's own, rate-limited to 10 Mbit/s each way: the client stays in
// socktop's namespace, where the live table shows its Send-Q, and the
// server listens inside on the run's port. The namespace, the pair and
// the qdiscs go when the run stops.
func (e *env) measureLAN(g bufferGrid) []bufferRow {
	l := e.netLab(labConfig{RateBits: lanRate})
	ln, err := e.p.TCPIn("server", l.Path())
	e.ok(err)
	e.ok(ln.SetReuseAddr(true))
	srv := netip.AddrPortFrom(l.NSAddr(), e.port)
	e.ok(ln.BindAddr(srv))
	e.ok(ln.Listen(1))
	c := e.tcp("client")
	e.ok(c.ConnectAddr(srv, waitLimit))
	a := e.accept(ln, "server")
	rows := e.measureConn(settingLAN, c, a, g)
	e.closePolitely(ln, c, a)
	return rows
}
