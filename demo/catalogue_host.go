package demo

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"socktop/collect"
)

// hostCrashTimeout is the client's TCP_USER_TIMEOUT in host-crash: how
// long its data may stay unacknowledged before the kernel gives up. Left
// to tcp_retries2 (15) it would be about 15 minutes.
const (
	hostCrashTimeout     = 20 * time.Second
	hostCrashTimeoutFast = 5 * time.Second
)

// hostCrashUserTimeout is the client's TCP_USER_TIMEOUT for cfg.
func hostCrashUserTimeout(cfg Config) time.Duration {
	if cfg.Fast {
		return hostCrashTimeoutFast
	}
	return hostCrashTimeout
}

// retries2Time is how long the kernel retransmits before it gives up
// after n retries (tcp_retries2), as its tcp_model_timeout computes it:
// the timeout doubles from 200 ms up to 120 s, then stays there.
func retries2Time(n int) time.Duration {
	const base, ceiling = 200 * time.Millisecond, 120 * time.Second
	thresh := 9 // ilog2(ceiling / base)
	if n <= thresh {
		return time.Duration(1<<(n+1)-1) * base
	}
	return time.Duration(1<<(thresh+1)-1)*base + time.Duration(n-thresh)*ceiling
}

// retransmitting accepts a connection whose data is unacknowledged and
// whose retransmission timer has fired at least twice: what ss shows as
// `timer:(on,…,2)` with a Send-Q above 0.
func retransmitting(s *collect.Socket) bool {
	return s.SendQ > 0 && s.Timer == collect.TimerOn && s.Retrans >= 2
}

func hostCrash() *Scenario {
	return &Scenario{
		Name:      "host-crash",
		Key:       "m",
		Title:     "Server host crash: nothing is sent, the client retransmits until it gives up",
		Section:   SectionCrashes,
		NeedsRoot: "creates a network namespace and a veth pair",
		Sysctls:   []string{"tcp_retries2", "tcp_keepalive_time", "tcp_keepalive_intvl", "tcp_keepalive_probes"},
		Promises: []Promise{
			{Role: Server, Endpoint: "server", Call: "accept(", Result: "fd",
				Why: "the server, in its own network namespace, accepted the client across the veth pair"},
			{Role: Client, State: collect.StateEstablished, Detail: "Send-Q > 0, timer on, retransmits >= 2", Match: retransmitting,
				Why: "the server's host is gone: the data is never acknowledged, and the retransmission timer backs off"},
			{Role: Client, Call: "recv(", Result: "ETIMEDOUT",
				Why: "TCP_USER_TIMEOUT ran out: the kernel dropped the connection and the client's call fails"},
			{Role: Client, State: collect.StateCloseWait, Absent: true,
				Why: "no FIN comes from a dead host: unlike a process crash, the client never sees CLOSE_WAIT"},
			path(Client, "the connection ends straight from ESTABLISHED when the kernel gives up",
				synSent, established, closed),
			path(Server, "the crashed host's socket ends without a FIN: its state is lost with the host",
				synRecv, established, closed),
		},
		notes: func(h Host, cfg Config) []string {
			retries := h.describe("tcp_retries2") + ": without a user timeout the client would retransmit that many times before it gives up"
			if n, ok := h.get("tcp_retries2"); ok {
				retries += fmt.Sprintf(", about %v here", retries2Time(n).Round(time.Second))
			}
			keep := "keepalive (SO_KEEPALIVE) probes an idle connection after " + h.describe("tcp_keepalive_time") + " s, then " +
				h.describe("tcp_keepalive_probes") + " probes " + h.describe("tcp_keepalive_intvl") + " s apart; this connection is not idle, so the retransmission timer decides"
			return []string{
				retries,
				keep,
				fmt.Sprintf("this run sets TCP_USER_TIMEOUT=%d ms on the client, so it gives up after %v", hostCrashUserTimeout(cfg).Milliseconds(), hostCrashUserTimeout(cfg)),
				"the server's socket lives in the demo's namespace, which this run's collector does not list: the table shows the client's side",
			}
		},
		steps: func(e *env) {
			lab := e.netLab(labConfig{PinNeighbour: true})
			at := netip.AddrPortFrom(lab.NSAddr(), e.port)
			ln, err := e.p.TCPIn("server", lab.Path())
			e.ok(err)
			e.ok(ln.SetReuseAddr(true))
			e.ok(ln.BindAddr(at))
			e.ok(ln.Listen(4))
			c := e.tcp("client")
			ut := hostCrashUserTimeout(e.cfg)
			e.ok(c.SetUserTimeout(ut))
			e.ok(c.ConnectAddr(at, waitLimit))
			a := e.accept(ln, "server")
			e.send(c, "hello")
			e.recv(a)
			e.hold()
			e.ok(lab.SetNSLinkUp(false))
			e.say("server", "ip -n "+lab.Name()+" link set dev "+lab.NSLink()+" down",
				"the server's host is gone: nothing leaves it, nothing reaches it, not even a FIN")
			e.send(c, "are you there?")
			_, err = c.Recv(4096, ut+waitLimit)
			if !errors.Is(err, syscall.ETIMEDOUT) {
				e.ok(fmt.Errorf("client recv after the host crash: %v, expected ETIMEDOUT", err))
			}
			// The crashed host's memory is gone with it: its sockets end
			// without a word (the RST has no link to leave by), rather
			// than linger as orphans in the namespace.
			e.ok(a.SetLinger(true, 0))
			e.ok(a.Close())
			e.ok(ln.Close())
			e.hold()
		},
	}
}
