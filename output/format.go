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

// FormatTimer returns AppendTimer's text as a string.
func FormatTimer(s *collect.Socket) string {
	var buf [48]byte
	return string(AppendTimer(buf[:0], s))
}
