package kerneltest

import (
	"math/rand/v2"
	"net/netip"
)

// Addr4 is this test binary's own IPv4 loopback address, 127.a.b.c
// picked at random: the whole of 127/8 is on lo, and no other program on
// the host uses the address, so a 4-tuple on it (a TIME_WAIT row, an
// orphan, a child not yet accepted) can only be the test's. 127.0.x.x is
// left out because resolvers and test farms live there.
var Addr4 = netip.AddrFrom4([4]byte{127, byte(1 + rand.IntN(254)), byte(1 + rand.IntN(254)), byte(1 + rand.IntN(254))})
