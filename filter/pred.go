package filter

import (
	"net/netip"
	"strconv"
	"strings"

	"socktop/collect"
)

// State sets by name. The kernel's aliases travel with the state a person
// names: syn-recv includes NEW_SYN_RECV request sockets, and closed
// includes bound-inactive TCP sockets and unconnected UDP sockets, which ss
// also calls closed (its UNCONN column is TCP_CLOSE).
const (
	maskSynRecv  collect.StateMask = 1<<collect.StateSynRecv | 1<<collect.StateNewSynRecv
	maskClosed   collect.StateMask = 1<<collect.StateClosed | 1<<collect.StateBoundInactive | 1<<collect.StateUnconn
	maskListen   collect.StateMask = 1 << collect.StateListen
	maskTimeWait collect.StateMask = 1 << collect.StateTimeWait
	// ss: "connected - all the states except for listening and closed".
	maskConnected    collect.StateMask = collect.AllStates &^ (maskListen | maskClosed)
	maskSynchronized collect.StateMask = maskConnected &^ (1 << collect.StateSynSent)
	maskBucket       collect.StateMask = maskSynRecv | maskTimeWait
	maskBig          collect.StateMask = collect.AllStates &^ maskBucket
)

// stateNamesIn maps a normalised state name (lower case, "_" as "-") to its
// set.
var stateNamesIn = map[string]collect.StateMask{
	"established":  1 << collect.StateEstablished,
	"estab":        1 << collect.StateEstablished,
	"syn-sent":     1 << collect.StateSynSent,
	"syn-recv":     maskSynRecv,
	"syn-received": maskSynRecv,
	"fin-wait-1":   1 << collect.StateFinWait1,
	"fin-wait-2":   1 << collect.StateFinWait2,
	"time-wait":    maskTimeWait,
	"close-wait":   1 << collect.StateCloseWait,
	"last-ack":     1 << collect.StateLastAck,
	"closing":      1 << collect.StateClosing,
	"listen":       maskListen,
	"listening":    maskListen,
	"closed":       maskClosed,
	"close":        maskClosed,
	"unconn":       maskClosed,
	"unconnected":  maskClosed,
	"all":          collect.AllStates,
	"connected":    maskConnected,
	"synchronized": maskSynchronized,
	"bucket":       maskBucket,
	"big":          maskBig,
}

// lookupState finds a state or state group by any accepted spelling.
func lookupState(name string) (collect.StateMask, bool) {
	m, ok := stateNamesIn[strings.ReplaceAll(strings.ToLower(name), "_", "-")]
	return m, ok
}

// socketFamily is the socket's family, inferred from its address when the
// source left Family at 0.
func socketFamily(s *collect.Socket) uint8 {
	if s.Family != 0 {
		return s.Family
	}
	if a := s.Local.Addr(); a.Is4() {
		return 4
	} else if a.IsValid() {
		return 6
	}
	return 0
}

// looksLikePort reports a bare port shortcut: 8080, :8080 or :*.
func looksLikePort(w string) bool {
	if strings.HasPrefix(w, ":") {
		return true
	}
	return len(w) > 0 && w[0] >= '0' && w[0] <= '9' && !strings.ContainsAny(w, "./:")
}

// portValue parses PORT, :PORT, * or :* from the token; -1 means any port,
// allowed only when wild is true.
func (p *parser) portValue(t token, wild bool) (int, error) {
	if t.kind != tWord {
		return 0, p.errAt(t.pos, "expected a port after %s, found %s", p.prev().describe(), t.describe())
	}
	s, off := t.text, t.pos
	if strings.HasPrefix(s, ":") {
		s, off = s[1:], off+1
	}
	return parsePortNumber(p.expr, s, off, wild)
}

// parsePortNumber parses a decimal port 0..65535, a service name (ssh,
// http, from /etc/services as ss reads it), or "*" when wild; off is the
// byte offset of s in expr, for the error column.
func parsePortNumber(expr, s string, off int, wild bool) (int, error) {
	if s == "*" {
		if !wild {
			return 0, errAt(expr, off, `a wildcard port "*" only goes with = or !=`)
		}
		return -1, nil
	}
	if s == "" {
		return 0, errAt(expr, off, "expected a port number")
	}
	if isServiceName(s) {
		n, msg := lookupService(services(), s)
		if msg != "" {
			return 0, errAt(expr, off, "%s", msg)
		}
		return n, nil
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errAt(expr, off, "expected a port number, found %q", s)
		}
	}
	if len(s) > 5 {
		return 0, errAt(expr, off, "port %s is out of range (0-65535)", s)
	}
	n, _ := strconv.Atoi(s)
	if n > 65535 {
		return 0, errAt(expr, off, "port %s is out of range (0-65535)", s)
	}
	return n, nil
}

// portPred compares one end's port. A wildcard matches every port. A
// Unix socket has no port, so it matches no port condition.
func portPred(op cmpOp, want int, local bool) func(*collect.Socket) bool {
	if want < 0 {
		all := op == opEq
		return func(s *collect.Socket) bool { return all && s.Proto != collect.Unix }
	}
	if local {
		return func(s *collect.Socket) bool { return s.Proto != collect.Unix && cmpInt(op, int(s.Local.Port()), want) }
	}
	return func(s *collect.Socket) bool { return s.Proto != collect.Unix && cmpInt(op, int(s.Remote.Port()), want) }
}

// eitherPort is the "port" shortcut: the condition holds at either end.
// "port != 80" is read as "neither end is 80", which is what people mean,
// rather than the always-true "one end is not 80".
func eitherPort(op cmpOp, want int) cnode {
	if op == opNe {
		return notNode(eitherPort(opEq, want))
	}
	l, r := portPred(op, want, true), portPred(op, want, false)
	n := predNode(func(s *collect.Socket) bool { return l(s) || r(s) })
	n.kernel = exact(kjoin(kOr, kPortCond(op, want, true), kPortCond(op, want, false)))
	return n
}

// parsePortCond reads the rest of "sport OP PORT", "dport OP PORT" or
// "port OP PORT".
func (p *parser) parsePortCond(kw string, kwTok token) (cnode, error) {
	op, _, _ := p.parseOp()
	v := p.peek()
	if v.kind != tWord {
		return cnode{}, p.errAt(v.pos, "expected a port after %s, found %s", p.prev().describe(), v.describe())
	}
	p.next()
	port, err := p.portValue(v, op == opEq || op == opNe)
	if err != nil {
		return cnode{}, err
	}
	switch kw {
	case "sport", "dport":
		local := kw == "sport"
		n := predNode(portPred(op, port, local))
		n.kernel = exact(kPortCond(op, port, local))
		return n, nil
	}
	return eitherPort(op, port), nil
}

// hostSpec is a parsed HOST of "src HOST" or "dst HOST".
type hostSpec struct {
	family uint8        // 0: any; 4 or 6 after inet: or inet6:
	prefix netip.Prefix // invalid: any address
	port   int          // -1: any port
}

// parseHostCond reads the rest of "src [=|!=] HOST" or "dst [=|!=] HOST".
func (p *parser) parseHostCond(local bool, kwTok token) (cnode, error) {
	op, opTok, had := p.parseOp()
	if had && op != opEq && op != opNe {
		return cnode{}, p.errAt(opTok.pos, "%s takes = or != (compare ports with sport or dport)", kwTok.text)
	}
	v := p.peek()
	if v.kind != tWord {
		return cnode{}, p.errAt(v.pos, "expected an address after %s, found %s", p.prev().describe(), v.describe())
	}
	p.next()
	h, err := parseHost(p.expr, v.text, v.pos)
	if err != nil {
		return cnode{}, err
	}
	n := predNode(h.pred(local))
	n.kernel = exact(kHostCond(h, local))
	if op == opNe {
		n = notNode(n)
	}
	return n, nil
}

// pred compiles the host condition for one end of the socket. An address
// matches the kernel's way: an IPv4 prefix also matches IPv4-mapped IPv6
// addresses, an IPv6 prefix only IPv6 ones, and an endpoint with no address
// (a listener's peer) is the unspecified address of the socket's family.
// A Unix socket has no address, so it matches no host condition (path
// is the condition for its name).
func (h hostSpec) pred(local bool) func(*collect.Socket) bool {
	pfx, port, fam := h.prefix, h.port, h.family
	hasAddr, want4 := pfx.IsValid(), pfx.Addr().Is4()
	return func(s *collect.Socket) bool {
		if s.Proto == collect.Unix {
			return false
		}
		ap := s.Remote
		if local {
			ap = s.Local
		}
		if port >= 0 && int(ap.Port()) != port {
			return false
		}
		if fam != 0 && socketFamily(s) != fam {
			return false
		}
		if !hasAddr {
			return true
		}
		a := ap.Addr()
		if !a.IsValid() {
			if socketFamily(s) == 6 {
				a = netip.IPv6Unspecified()
			} else {
				a = netip.IPv4Unspecified()
			}
		}
		if want4 && a.Is4In6() {
			a = a.Unmap()
		}
		if a.Zone() != "" {
			a = a.WithZone("")
		}
		return pfx.Contains(a)
	}
}

// parseHost parses ss's [FAMILY:]ADDRESS[/LEN][:PORT] forms: 10.0.0.0/8,
// 127.0.0.1:80, [::1]:443, [::1], ::1, fe80::/10, *:80, :80, *, and the
// short IPv4 prefixes iproute2 takes (127/8). off is the byte offset of s
// in expr, for error columns.
func parseHost(expr, s string, off int) (hostSpec, error) {
	h := hostSpec{port: -1}
	switch ls := strings.ToLower(s); {
	case strings.HasPrefix(ls, "inet6:"):
		h.family, s, off = 6, s[6:], off+6
	case strings.HasPrefix(ls, "inet:"):
		h.family, s, off = 4, s[5:], off+5
	}
	var addr, bits, port string
	addrOff, bitsOff, portOff := off, -1, -1
	switch {
	case s == "":
		return h, errAt(expr, off, "expected an address")
	case s[0] == '[':
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return h, errAt(expr, off, `missing "]" after the IPv6 address`)
		}
		addr, addrOff = s[1:end], off+1
		if i := strings.IndexByte(addr, '/'); i >= 0 {
			addr, bits, bitsOff = addr[:i], addr[i+1:], addrOff+i+1
		}
		rest, restOff := s[end+1:], off+end+1
		if strings.HasPrefix(rest, "/") && bitsOff < 0 {
			i := strings.IndexByte(rest, ':')
			if i < 0 {
				i = len(rest)
			}
			bits, bitsOff = rest[1:i], restOff+1
			rest, restOff = rest[i:], restOff+i
		}
		switch {
		case rest == "":
		case rest[0] == ':':
			port, portOff = rest[1:], restOff+1
		default:
			return h, errAt(expr, restOff, `expected ":PORT" after "]", found %q`, rest)
		}
	case s[0] == '*':
		switch rest := s[1:]; {
		case rest == "":
		case rest[0] == ':':
			port, portOff = rest[1:], off+2
		default:
			return h, errAt(expr, off+1, `expected ":PORT" after "*", found %q`, rest)
		}
	case s[0] == ':' && !strings.HasPrefix(s, "::"):
		port, portOff = s[1:], off+1
	default:
		addr = s
		if i := strings.IndexByte(s, '/'); i >= 0 {
			addr, bits, bitsOff = s[:i], s[i+1:], off+i+1
			if j := strings.IndexByte(bits, ':'); j >= 0 {
				port, portOff = bits[j+1:], bitsOff+j+1
				bits = bits[:j]
			}
		} else if strings.Count(s, ":") == 1 {
			i := strings.IndexByte(s, ':')
			addr, port, portOff = s[:i], s[i+1:], off+i+1
		}
	}
	if portOff >= 0 {
		n, err := parsePortNumber(expr, port, portOff, true)
		if err != nil {
			return h, err
		}
		h.port = n
	}
	if addr == "" && bitsOff < 0 {
		return h, nil
	}
	if addr == "*" && bitsOff < 0 {
		return h, nil
	}
	pfx, err := parsePrefix(expr, addr, addrOff, bits, bitsOff)
	if err != nil {
		return h, err
	}
	if h.family == 4 && !pfx.Addr().Is4() || h.family == 6 && pfx.Addr().Is4() {
		return h, errAt(expr, addrOff, "address %q is not of the family inet%s", addr, map[uint8]string{4: "", 6: "6"}[h.family])
	}
	h.prefix = pfx
	return h, nil
}

// parsePrefix parses an address and an optional prefix length (bitsOff < 0
// means none) into a masked prefix.
func parsePrefix(expr, addr string, addrOff int, bits string, bitsOff int) (netip.Prefix, error) {
	a, err := netip.ParseAddr(addr)
	if err != nil && bitsOff >= 0 {
		a, err = shortIPv4(addr)
	}
	if err != nil {
		if bitsOff < 0 && shortV4Re(addr) {
			return netip.Prefix{}, errAt(expr, addrOff, "incomplete IPv4 address %q (give 4 numbers, or a /prefix as in 10/8)", addr)
		}
		return netip.Prefix{}, errAt(expr, addrOff, "bad address %q (host names are not looked up)", addr)
	}
	a = a.WithZone("")
	n := a.BitLen()
	if bitsOff >= 0 {
		if bits == "" {
			return netip.Prefix{}, errAt(expr, bitsOff, `expected a prefix length after "/"`)
		}
		v, err := strconv.Atoi(bits)
		if err != nil || v < 0 || len(bits) > 3 || bits[0] == '+' || bits[0] == '-' {
			return netip.Prefix{}, errAt(expr, bitsOff, "bad prefix length %q", bits)
		}
		if v > a.BitLen() {
			return netip.Prefix{}, errAt(expr, bitsOff, "prefix length %d is longer than the address (%d bits)", v, a.BitLen())
		}
		n = v
	}
	return netip.PrefixFrom(a, n).Masked(), nil
}

// shortV4Re reports 1 to 3 dot-separated numbers: the start of an IPv4
// address that iproute2 pads with zeros.
func shortV4Re(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}

// shortIPv4 pads "127" or "192.168" with zero bytes, as iproute2 does for a
// prefix: 127/8 is 127.0.0.0/8.
func shortIPv4(s string) (netip.Addr, error) {
	if !shortV4Re(s) {
		return netip.Addr{}, strconv.ErrSyntax
	}
	var b [4]byte
	for i, p := range strings.Split(s, ".") {
		v, err := strconv.Atoi(p)
		if err != nil || v > 255 {
			return netip.Addr{}, strconv.ErrSyntax
		}
		b[i] = byte(v)
	}
	return netip.AddrFrom4(b), nil
}

// Ports returns the filter "sport = :P or dport = :P or ..." for
// the ports given, built as a predicate rather than parsed from that
// text, which String still gives for the header and the prompt. No ports
// give a nil filter.
func Ports(ports ...uint16) *Filter {
	if len(ports) == 0 {
		return nil
	}
	var n cnode
	var b strings.Builder
	for i, p := range ports {
		local, remote := predNode(portPred(opEq, int(p), true)), predNode(portPred(opEq, int(p), false))
		local.kernel, remote.kernel = exact(kPortCond(opEq, int(p), true)), exact(kPortCond(opEq, int(p), false))
		either := orNode(local, remote)
		if i == 0 {
			n = either
		} else {
			n = orNode(n, either)
			b.WriteString(" or ")
		}
		ps := strconv.Itoa(int(p))
		b.WriteString("sport = :" + ps + " or dport = :" + ps)
	}
	return &Filter{expr: b.String(), match: n.match, may: n.may, kernel: n.kernel}
}
