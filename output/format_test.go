package output

import (
	"net/netip"
	"testing"
	"time"

	"socktop/collect"
)

func TestFormatAddr(t *testing.T) {
	cases := []struct {
		ap   netip.AddrPort
		fam  uint8
		want string
	}{
		{netip.MustParseAddrPort("127.0.0.1:80"), 4, "127.0.0.1:80"},
		{netip.MustParseAddrPort("[::1]:443"), 6, "[::1]:443"},
		{netip.MustParseAddrPort("0.0.0.0:0"), 4, "0.0.0.0:*"},
		{netip.MustParseAddrPort("[::]:0"), 6, "[::]:*"},
		{netip.AddrPort{}, 6, "[::]:*"},
		{netip.AddrPort{}, 4, "0.0.0.0:*"},
		{netip.MustParseAddrPort("[::ffff:127.0.0.1]:22"), 6, "[::ffff:127.0.0.1]:22"},
		{netip.MustParseAddrPort("0.0.0.0:53"), 4, "0.0.0.0:53"},
	}
	for _, c := range cases {
		if got := FormatAddr(c.ap, c.fam); got != c.want {
			t.Errorf("FormatAddr(%v, %d) = %q, want %q", c.ap, c.fam, got, c.want)
		}
	}
}

func TestFormatTimer(t *testing.T) {
	cases := []struct {
		s    collect.Socket
		want string
	}{
		{collect.Socket{}, "off"},
		{collect.Socket{Timer: collect.TimerTimeWait, TimerLeft: 58123 * time.Millisecond}, "timewait 58.1s"},
		{collect.Socket{Timer: collect.TimerOn, TimerLeft: 796 * time.Millisecond, Retrans: 3}, "on 796ms r3"},
		{collect.Socket{Timer: collect.TimerKeepalive, TimerLeft: 123 * time.Second}, "keepalive 2m03s"},
		{collect.Socket{Timer: collect.TimerPersist, TimerLeft: -time.Second}, "persist 0s"},
	}
	for _, c := range cases {
		if got := FormatTimer(&c.s); got != c.want {
			t.Errorf("FormatTimer(%+v) = %q, want %q", c.s, got, c.want)
		}
	}
}
