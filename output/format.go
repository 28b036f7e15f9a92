package output

import (
	"net/netip"
	"strconv"
	"time"

	"socktop/collect"
)

// AppendAddr appends an endpoint the way ss prints it: 127.0.0.1:80,
// [::1]:443, and for a peer that is not fixed 0.0.0.0:* or [::]:*. It does
// not allocate, so a table of every socket on the host costs nothing per
// row.
func AppendAddr(b []byte, ap netip.AddrPort, family uint8) []byte {
	a := ap.Addr()
	if !a.IsValid() {
		if family == 6 {
			a = netip.IPv6Unspecified()
		} else {
			a = netip.IPv4Unspecified()
		}
	}
	if a.Is4() {
		b = a.AppendTo(b)
	} else {
		b = append(b, '[')
		b = a.AppendTo(b)
		b = append(b, ']')
	}
	b = append(b, ':')
	if ap.Port() == 0 && a.IsUnspecified() {
		return append(b, '*')
	}
	return strconv.AppendUint(b, uint64(ap.Port()), 10)
}

// Namer gives the names a table shows in place of numbers (socktop -r,
// --services). A table asks it for every row it draws, so neither method
// may block: host names come from a cache that lookups elsewhere fill.
type Namer interface {
	// Host returns the name of address a, if one is known now.
	Host(a netip.Addr) (string, bool)
	// Service returns the service name of port for proto ("https").
	Service(proto collect.Proto, port uint16) (string, bool)
}

// AppendNamedAddr appends an endpoint as AppendAddr does, with the
// names n knows in place of the address and the port, as ss -r prints
// them: localhost:ssh, [::1]:https (a v6 address keeps its brackets, a
// name has none), 0.0.0.0:*. A nil n names nothing.
func AppendNamedAddr(b []byte, ap netip.AddrPort, family uint8, proto collect.Proto, n Namer) []byte {
	if n == nil {
		return AppendAddr(b, ap, family)
	}
	a := ap.Addr()
	host, named := "", false
	if a.IsValid() && !a.IsUnspecified() {
		host, named = n.Host(a)
	}
	if !named {
		// AppendAddr's own text up to the port: "addr:" (port 1 is
		// never elided).
		b = AppendAddr(b, netip.AddrPortFrom(a, 1), family)
		b = b[:len(b)-1]
	} else {
		b = append(b, host...)
		b = append(b, ':')
	}
	if ap.Port() == 0 && (!a.IsValid() || a.IsUnspecified()) {
		return append(b, '*')
	}
	if name, ok := n.Service(proto, ap.Port()); ok {
		return append(b, name...)
	}
	return strconv.AppendUint(b, uint64(ap.Port()), 10)
}

// FormatAddr returns AppendAddr's text as a string.
func FormatAddr(ap netip.AddrPort, family uint8) string {
	var buf [64]byte
	return string(AppendAddr(buf[:0], ap, family))
}

// AppendDuration appends a short human form of a timer's remaining time:
// 796ms, 58.1s, 2m03s. ss's own form (5.080ms for 5.08 s) is easy to
// misread, which is why socktop does not copy it.
func AppendDuration(b []byte, d time.Duration) []byte {
	switch {
	case d < 0:
		return append(b, '0', 's')
	case d < time.Second:
		b = strconv.AppendInt(b, d.Milliseconds(), 10)
		return append(b, 'm', 's')
	case d < time.Minute:
		tenths := d.Milliseconds() / 100
		b = strconv.AppendInt(b, tenths/10, 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, tenths%10, 10)
		return append(b, 's')
	default:
		s := int64(d / time.Second)
		b = strconv.AppendInt(b, s/60, 10)
		b = append(b, 'm')
		if s%60 < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, s%60, 10)
		return append(b, 's')
	}
}

// AppendTimer appends the timer column: "off", or the kind and remaining
// time ("timewait 58.1s"), with the retransmit count when there is one
// ("on 796ms r3").
func AppendTimer(b []byte, s *collect.Socket) []byte {
	b = append(b, s.Timer.String()...)
	if s.Timer == collect.TimerOff {
		return b
	}
	b = append(b, ' ')
	b = AppendDuration(b, s.TimerLeft)
	if s.Retrans > 0 {
		b = append(b, ' ', 'r')
		b = strconv.AppendUint(b, uint64(s.Retrans), 10)
	}
	return b
}

// AppendSSTimer appends a timer as ss -o prints it after a row,
// "timer:(keepalive,119min,0)": the kind, the remaining time in ss's
// form, and the retransmits. It appends nothing for an idle timer, as ss
// does, and "timer:(?)" for one the source could not know.
func AppendSSTimer(b []byte, s *collect.Socket) []byte {
	if !s.Known(collect.FieldTimer) {
		return append(b, "timer:(?)"...)
	}
	if s.Timer == collect.TimerOff {
		return b
	}
	b = append(b, "timer:("...)
	b = append(b, s.Timer.String()...)
	b = append(b, ',')
	b = appendSSMs(b, s.TimerLeft.Milliseconds())
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(s.Retrans), 10)
	return append(b, ')')
}

// appendSSMs is ss's print_ms_timer: minutes, seconds and milliseconds,
// dropping what a larger unit makes noise of ("12min", "58sec",
// "5.080ms" for 5.08 s, "200ms").
func appendSSMs(b []byte, ms int64) []byte {
	ms = max(ms, 0)
	secs, msecs := ms/1000, ms%1000
	minutes := secs / 60
	secs %= 60
	if minutes > 0 {
		msecs = 0
		b = strconv.AppendInt(b, minutes, 10)
		b = append(b, "min"...)
		if minutes > 9 {
			secs = 0
		}
	}
	if secs > 0 {
		if secs > 9 {
			msecs = 0
		}
		b = strconv.AppendInt(b, secs, 10)
		if msecs > 0 {
			b = append(b, '.')
		} else {
			b = append(b, "sec"...)
		}
	}
	if msecs > 0 {
		if msecs < 100 {
			b = append(b, '0')
		}
		if msecs < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, msecs, 10)
		b = append(b, "ms"...)
	}
	return b
}

// AppendSSDetails appends what ss -e prints after a row, "uid:0
// ino:12345 sk:1f2e fwmark:0x1 cgroup:/system.slice" (the cookie in hex,
// as ss prints it). Unlike ss, which leaves out uid 0, uid, ino and sk are
// always there, so that a row splits into the same fields; fwmark and
// cgroup are left out when 0, as ss does. One the source could not know
// is "?".
func AppendSSDetails(b []byte, s *collect.Socket) []byte {
	b = append(b, "uid:"...)
	if s.Known(collect.FieldUID) {
		b = strconv.AppendUint(b, uint64(s.UID), 10)
	} else {
		b = append(b, '?')
	}
	b = append(b, " ino:"...)
	if s.Known(collect.FieldInode) {
		b = strconv.AppendUint(b, uint64(s.Inode), 10)
	} else {
		b = append(b, '?')
	}
	b = append(b, " sk:"...)
	if s.Known(collect.FieldCookie) {
		b = strconv.AppendUint(b, s.Cookie, 16)
	} else {
		b = append(b, '?')
	}
	if s.Proto != collect.Unix {
		b = appendMarkCgroup(b, s)
	}
	return b
}

// appendMarkCgroup appends ss's " fwmark:0x1 cgroup:/path", each only
// when set, as ss prints them; an unknown one is "?" (the kernel reports
// marks only to CAP_NET_ADMIN), and a cgroup
// gone since is ss's "unreachable:ID".
func appendMarkCgroup(b []byte, s *collect.Socket) []byte {
	switch {
	case !s.Known(collect.FieldMark):
		b = append(b, " fwmark:?"...)
	case s.Mark != 0:
		b = append(b, " fwmark:0x"...)
		b = strconv.AppendUint(b, uint64(s.Mark), 16)
	}
	switch {
	case !s.Known(collect.FieldCgroup):
		b = append(b, " cgroup:?"...)
	case s.CgroupID != 0:
		b = append(b, " cgroup:"...)
		if p, ok := collect.CgroupPath(s.CgroupID); ok {
			b = append(b, p...)
		} else {
			b = append(b, "unreachable:"...)
			b = strconv.AppendUint(b, s.CgroupID, 16)
		}
	}
	return b
}

// FormatTimer returns AppendTimer's text as a string.
func FormatTimer(s *collect.Socket) string {
	var buf [48]byte
	return string(AppendTimer(buf[:0], s))
}
