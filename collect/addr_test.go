package collect

import "net/netip"

// mustAP parses an address and port a test writes out.
func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
