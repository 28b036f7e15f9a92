package demo

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"socktop/probe"
)

// BenchmarkBufferSizes measures the buffer-sizes grid outside a demo
// run (no snapshots, no narration): TCP on loopback and, as root, across
// a 10 Mbit/s veth pair, a pipe and memcpy, for every size of the
// material's table. Each iteration is one run; Mbit/s is their mean.
//
//	go test -run '^$' -bench BufferSizes -benchtime 5x ./demo
func BenchmarkBufferSizes(b *testing.B) {
	sizes := gridFor(false).sizes
	never := func() bool { return false }
	report := func(b *testing.B, run func() (int64, time.Duration)) {
		var total float64
		for b.Loop() {
			n, d := run()
			total += mbps(n, d)
		}
		b.ReportMetric(total/float64(b.N), "Mbit/s")
		b.ReportMetric(0, "ns/op")
	}
	tcp := func(b *testing.B, setting string, c, a *probe.Endpoint) {
		w, err := dupFD(c)
		if err != nil {
			b.Fatal(err)
		}
		defer closeFD(w)
		r, err := dupFD(a)
		if err != nil {
			b.Fatal(err)
		}
		defer closeFD(r)
		for _, size := range sizes {
			b.Run(fmt.Sprintf("%s/%s", setting, sizeLabel(size)), func(b *testing.B) {
				t := transfer{size: size, bytes: 32 << 20, stopped: never}
				if setting == settingLAN {
					t.bytes = lanBytes(size)
				}
				report(b, func() (int64, time.Duration) {
					n, d, err := timedTransfer(w, r, t)
					if err != nil {
						b.Fatal(err)
					}
					return n, d
				})
			})
		}
	}
	pair := func(b *testing.B, p *probe.Probe, ns string, srv netip.AddrPort) (c, a *probe.Endpoint) {
		ln, err := p.TCPIn("server", ns)
		if err == nil {
			err = ln.BindAddr(srv)
		}
		if err == nil {
			err = ln.Listen(1)
		}
		if err == nil {
			c, err = p.TCP("client")
		}
		if err == nil {
			err = c.ConnectAddr(srv, waitLimit)
		}
		if err == nil {
			a, err = ln.Accept("server", waitLimit)
		}
		if err != nil {
			b.Fatal(err)
		}
		return c, a
	}
	p := probe.New(nil)
	defer p.Stop()
	port, err := probe.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	c, a := pair(b, p, "", netip.AddrPortFrom(probe.Loopback, port))
	tcp(b, settingLoopback, c, a)
	if why := labAllowed(); why != "" {
		b.Logf("lan skipped: %s", why)
	} else {
		l, err := newNetLab(labConfig{RateBits: lanRate})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		c, a := pair(b, p, l.Path(), netip.AddrPortFrom(l.NSAddr(), port))
		tcp(b, settingLAN, c, a)
	}
	for _, size := range sizes {
		b.Run(fmt.Sprintf("pipe/%s", sizeLabel(size)), func(b *testing.B) {
			report(b, func() (int64, time.Duration) {
				n, d, err := pipeRun(transfer{size: size, bytes: 32 << 20, stopped: never})
				if err != nil {
					b.Fatal(err)
				}
				return n, d
			})
		})
	}
	for _, size := range sizes {
		b.Run(fmt.Sprintf("memcpy/%s", sizeLabel(size)), func(b *testing.B) {
			report(b, func() (int64, time.Duration) {
				n, d := memcpyRun(size, 50*time.Millisecond)
				return n, d
			})
		})
	}
}
