package output

import (
	"net/netip"
	"testing"
)

// The memo must print exactly what output.AppendAddr prints, whatever the
// order of addresses (same address, other port, other family, unspecified).
func TestAddrMemoMatchesAppendAddr(t *testing.T) {
	cases := []struct {
		ap  netip.AddrPort
		fam uint8
	}{
		{netip.MustParseAddrPort("127.0.0.1:80"), 4},
		{netip.MustParseAddrPort("127.0.0.1:81"), 4},
		{netip.MustParseAddrPort("0.0.0.0:0"), 4},
		{netip.MustParseAddrPort("0.0.0.0:53"), 4},
		{netip.AddrPort{}, 6},
		{netip.AddrPort{}, 4},
		{netip.MustParseAddrPort("[::]:0"), 6},
		{netip.MustParseAddrPort("[::1]:443"), 6},
		{netip.MustParseAddrPort("[::1]:0"), 6},
		{netip.MustParseAddrPort("[::ffff:127.0.0.1]:22"), 6},
		{netip.MustParseAddrPort("127.0.0.1:22"), 4},
	}
	var m addrMemo
	for round := 0; round < 2; round++ {
		for _, c := range cases {
			got := string(m.append(nil, c.ap, c.fam))
			if want := FormatAddr(c.ap, c.fam); got != want {
				t.Errorf("memo %v/%d = %q, want %q", c.ap, c.fam, got, want)
			}
		}
	}
}
