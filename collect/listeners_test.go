package collect

import (
	"net/netip"
	"testing"
)

func listenerTable() []Socket {
	ap := netip.MustParseAddrPort
	return []Socket{
		{Proto: TCP, State: StateListen, Local: ap("0.0.0.0:80"), RecvQ: 5, SendQ: 4},
		{Proto: TCP, State: StateListen, Local: ap("10.0.0.1:80"), RecvQ: 4, SendQ: 4},
		{Proto: TCP, State: StateListen, Local: ap("[::]:443"), RecvQ: 0, SendQ: 128},
		{Proto: TCP, State: StateListen, Local: ap("127.0.0.1:8080"), RecvQ: 0, SendQ: 16},
		{Proto: TCP, State: StateListen, Local: ap("127.0.0.1:8080"), RecvQ: 0, SendQ: 16},
		{Proto: TCP, State: StateListen, Local: ap("127.0.0.1:9"), Unknown: FieldRecvQ | FieldSendQ},
		{Proto: TCP, State: StateNewSynRecv, Local: ap("10.0.0.1:80"), Remote: ap("10.0.0.9:5000")},
		{Proto: TCP, State: StateNewSynRecv, Local: ap("10.0.0.2:80"), Remote: ap("10.0.0.9:5001")},
		{Proto: TCP, State: StateSynRecv, Local: ap("127.0.0.1:443"), Remote: ap("127.0.0.1:5002")},
		{Proto: TCP, State: StateNewSynRecv, Local: ap("[::1]:443"), Remote: ap("[::1]:5003")},
		{Proto: TCP, State: StateNewSynRecv, Local: ap("127.0.0.1:8080"), Remote: ap("127.0.0.1:5004")},
		{Proto: TCP, State: StateNewSynRecv, Local: ap("127.0.0.1:7"), Remote: ap("127.0.0.1:5005")},
		{Proto: UDP, State: StateUnconn, Local: ap("0.0.0.0:80")},
		{Proto: TCP, State: StateEstablished, Local: ap("10.0.0.1:80"), Remote: ap("10.0.0.9:4000"), RecvQ: 9, SendQ: 1},
	}
}

// TestListenerHealthTable covers what the kernel test cannot set up on a
// shared host: a specific listener beside a wildcard one on other
// addresses, SO_REUSEPORT groups and sockets whose queues are unknown.
func TestListenerHealthTable(t *testing.T) {
	socks := listenerTable()
	var x ListenerIndex
	hs := x.Health(socks)
	type want struct {
		index, syn  int
		full, known bool
		shared      bool
	}
	wants := []want{
		{index: 0, syn: 1, full: true, known: true},   // 10.0.0.2 falls to the wildcard
		{index: 1, syn: 1, full: false, known: true},  // queue at its backlog: one more fits
		{index: 2, syn: 2, known: true},               // [::] takes IPv4 and IPv6
		{index: 3, syn: 1, known: true, shared: true}, // a reuseport group
		{index: 4, syn: 1, known: true, shared: true}, // shows the group's count
		{index: 5, syn: 0, full: false, known: false}, // unknown queues are never full
	}
	if len(hs) != len(wants) {
		t.Fatalf("%d listeners, want %d: %+v", len(hs), len(wants), hs)
	}
	for i, w := range wants {
		h := hs[i]
		if h.Index != w.index || h.SynQueue != w.syn || h.Full() != w.full || h.QueueKnown != w.known || h.SynShared != w.shared || !h.SynKnown {
			t.Errorf("listener %d (%v): %+v full=%v, want %+v", i, socks[h.Index].Local, h, h.Full(), w)
		}
	}
	// A second call on the same index starts again.
	if again := x.Health(socks); again[0].SynQueue != 1 {
		t.Errorf("second call: %+v", again[0])
	}
	if n := testing.AllocsPerRun(20, func() { x.Health(socks) }); n != 0 {
		t.Errorf("steady state allocates %v times per call", n)
	}
}
