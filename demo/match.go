package demo

import (
	"fmt"
	"time"

	"socktop/collect"
	"socktop/collect/segments"
)

// timerIs accepts a socket whose pending timer is t.
func timerIs(t collect.Timer) func(*collect.Socket) bool {
	return func(s *collect.Socket) bool { return s.Timer == t }
}

// sendQueued accepts a socket with unsent data and a zero-window probe
// timer: a FIN stuck behind data the peer has no room for.
func sendQueued(s *collect.Socket) bool { return s.SendQ > 0 && s.Timer == collect.TimerPersist }

// recvQueued accepts a socket holding data nobody read.
func recvQueued(s *collect.Socket) bool { return s.RecvQ > 0 }

// recvQIs accepts a socket whose Recv-Q is n.
func recvQIs(n uint32) func(*collect.Socket) bool {
	return func(s *collect.Socket) bool { return s.RecvQ == n }
}

// noInode accepts a socket no descriptor refers to.
func noInode(s *collect.Socket) bool { return s.Inode == 0 }

// blockedBySyncookies2 explains that tcp_syncookies=2 sends a cookie for
// every SYN, so no request socket (SYN_RECV) is ever kept.
func blockedBySyncookies2(h Host) string {
	if v, ok := h.get("tcp_syncookies"); ok && v == 2 {
		return "tcp_syncookies=2: every SYN is answered with a cookie and no request socket is kept, so SYN_RECV cannot appear here"
	}
	return ""
}

// blockedBeforeBoundInactive explains that kernels before 6.8 do not
// dump bound, inactive TCP sockets at all.
func blockedBeforeBoundInactive(h Host) string {
	if !h.atLeast(6, 8) {
		return fmt.Sprintf("kernel %d.%d: bound-inactive TCP sockets are only dumped from 6.8 on, so CLOSED cannot appear here", h.Kernel[0], h.Kernel[1])
	}
	return ""
}

// finTimeoutNote says how long an orphan FIN_WAIT_2 lives on this host
// and in this run.
func finTimeoutNote(h Host, cfg Config, linger2 int) string {
	s := h.describe("tcp_fin_timeout") + ": an orphan FIN_WAIT_2 lives that many seconds"
	if cfg.Fast {
		s += fmt.Sprintf("; this run sets TCP_LINGER2=%d on the client, so %d s", linger2, linger2)
	}
	return s
}

// fastLinger2 is the orphan FIN_WAIT_2 lifetime in Fast runs: short
// enough to end soon, long enough for slow snapshots to see it.
const fastLinger2 = 10

// fastSynCnt is the SYN retries of clients stuck in SYN_SENT in Fast
// runs: about 7 s.
const fastSynCnt = 2

// fastUserTimeout bounds stuck FINs in Fast runs.
const fastUserTimeout = 30 * time.Second

// The states of the paths, short, so the catalogue reads like the
// course's diagram.
const (
	synSent     = collect.StateSynSent
	synRecv     = collect.StateSynRecv
	established = collect.StateEstablished
	finWait1    = collect.StateFinWait1
	finWait2    = collect.StateFinWait2
	closeWait   = collect.StateCloseWait
	lastAck     = collect.StateLastAck
	closing     = collect.StateClosing
	timeWait    = collect.StateTimeWait
	closed      = collect.StateClosed
)

// path promises that one connection of role goes through states, in
// this order and with nothing between.
func path(role Role, why string, states ...collect.State) Promise {
	return Promise{Role: role, Path: states, Why: why}
}

// segs promises that one connection's segments show want.
func segs(why string, want ...Seg) Promise { return Promise{Segments: want, Why: why} }

// noSegs promises that no segment from role ("" for either side) has
// any of flags.
func noSegs(role Role, flags segments.Flags, why string) Promise {
	return Promise{Role: role, NoFlags: flags, Why: why}
}

// fromC and fromS are a segment from the client and from the server.
func fromC(f segments.Flags) Seg { return Seg{From: Client, Flags: f} }
func fromS(f segments.Flags) Seg { return Seg{From: Server, Flags: f} }

// withData is seg carrying payload.
func withData(s Seg) Seg { s.Data = true; return s }

// The flag sets the catalogue uses.
const (
	fSYN    = segments.SYN
	fSYNACK = segments.SYN | segments.ACK
	fACK    = segments.ACK
	fFINACK = segments.FIN | segments.ACK
	fRSTACK = segments.RST | segments.ACK
	fRST    = segments.RST
)

// handshake is the three segments of a connect that went through.
var handshake = []Seg{fromC(fSYN), fromS(fSYNACK), fromC(fACK)}

// then joins runs of segments with anySegs between them.
func then(runs ...[]Seg) []Seg {
	var out []Seg
	for i, r := range runs {
		if i > 0 {
			out = append(out, anySegs)
		}
		out = append(out, r...)
	}
	return out
}
