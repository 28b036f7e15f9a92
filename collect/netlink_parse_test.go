//go:build linux

package collect

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nlmsg frames a payload as the kernel would. These byte-level cases cover
// what the kernel will not do on request: interrupted dumps and garbage.
func nlmsg(typ, flags uint16, seq uint32, payload []byte) []byte {
	b := make([]byte, nlmsgHdrLen, nlmsgHdrLen+len(payload)+3)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(nlmsgHdrLen+len(payload)))
	ne.PutUint16(b[4:], typ)
	ne.PutUint16(b[6:], flags)
	ne.PutUint32(b[8:], seq)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// rtattr is one attribute, padded to 4 bytes.
func rtattr(typ uint16, payload []byte) []byte {
	b := binary.NativeEndian.AppendUint16(nil, uint16(4+len(payload)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func ne32b(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func diagMsg(fam, state, timer uint8) []byte {
	m := make([]byte, inetDiagMsgLen)
	ne := binary.NativeEndian
	m[0], m[1], m[2], m[3] = fam, state, timer, 2
	binary.BigEndian.PutUint16(m[4:], 8080)
	binary.BigEndian.PutUint16(m[6:], 40000)
	copy(m[8:], []byte{127, 0, 0, 1})
	copy(m[24:], []byte{127, 0, 0, 2})
	ne.PutUint32(m[44:], 0x11)
	ne.PutUint32(m[48:], 0x22)
	ne.PutUint32(m[52:], 1500)
	ne.PutUint32(m[56:], 3)
	ne.PutUint32(m[60:], 4)
	ne.PutUint32(m[64:], 1000)
	ne.PutUint32(m[68:], 777)
	return m
}

// parseDump walks one datagram of a dump reply to request 9, as
// dumpLocked does.
func parseDump(n *Netlink, b []byte, proto uint8) (socks []Socket, done, intr bool, err error) {
	r := reply{seq: 9, typ: sockDiagByFam, dump: true}
	done, err = r.walk(b, func(msg []byte) error {
		var err error
		socks, err = n.appendDiag(socks, msg, proto)
		return err
	})
	return socks, done, r.intr, err
}

func TestParseDiagMessages(t *testing.T) {
	n := &Netlink{}
	b := append(nlmsg(sockDiagByFam, unix.NLM_F_MULTI, 9, diagMsg(unix.AF_INET, uint8(StateEstablished), 2)),
		nlmsg(sockDiagByFam, unix.NLM_F_MULTI, 8, diagMsg(unix.AF_INET, uint8(StateListen), 0))...) // stale seq: ignored
	b = append(b, nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, 9, make([]byte, 4))...)
	socks, done, intr, err := parseDump(n, b, unix.IPPROTO_TCP)
	if err != nil || !done || intr || len(socks) != 1 {
		t.Fatalf("parse: %d sockets, done %v, intr %v, err %v", len(socks), done, intr, err)
	}
	want := Socket{
		Proto: TCP, Family: 4, State: StateEstablished,
		Local:  netip.MustParseAddrPort("127.0.0.1:8080"),
		Remote: netip.MustParseAddrPort("127.0.0.2:40000"),
		RecvQ:  3, SendQ: 4, UID: 1000, Inode: 777,
		Timer: TimerKeepalive, TimerLeft: 1500 * time.Millisecond, Retrans: 2,
		Cookie: 0x22<<32 | 0x11,
		// No INET_DIAG_MARK (not CAP_NET_ADMIN); no INET_DIAG_SHUTDOWN
		// either, so a mini socket's message, with no cgroup.
		Unknown: FieldMark,
	}
	if !reflect.DeepEqual(socks[0], want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", socks[0], want)
	}

	// A full socket's message (INET_DIAG_SHUTDOWN) without a cgroup: a
	// kernel without cgroup data.
	socks, _, _, _ = parseDump(n, nlmsg(sockDiagByFam, 0, 9, append(diagMsg(unix.AF_INET, uint8(StateEstablished), 0), rtattr(inetDiagShutdown, []byte{0})...)), unix.IPPROTO_TCP)
	if len(socks) != 1 || socks[0].Unknown != FieldMark|FieldCgroup {
		t.Errorf("a full socket without a cgroup: %+v", socks)
	}

	// With both attributes, after another one; a mark of 0 is known.
	attrs := append(rtattr(inetDiagShutdown, []byte{0}), rtattr(inetDiagMark, ne32b(0))...)
	attrs = append(attrs, rtattr(inetDiagCgroupID, binary.NativeEndian.AppendUint64(nil, 0xabcdef12345))...)
	socks, _, _, _ = parseDump(n, nlmsg(sockDiagByFam, 0, 9, append(diagMsg(unix.AF_INET, uint8(StateEstablished), 0), attrs...)), unix.IPPROTO_TCP)
	if len(socks) != 1 || socks[0].Mark != 0 || socks[0].CgroupID != 0xabcdef12345 || socks[0].Unknown != 0 {
		t.Errorf("mark and cgroup attributes: %+v", socks)
	}
	attrs = append(rtattr(inetDiagMark, ne32b(0x5a)), rtattr(inetDiagCgroupID, binary.NativeEndian.AppendUint64(nil, 7))...)
	socks, _, _, _ = parseDump(n, nlmsg(sockDiagByFam, 0, 9, append(diagMsg(unix.AF_INET, uint8(StateListen), 0), attrs...)), unix.IPPROTO_TCP)
	if len(socks) != 1 || socks[0].Mark != 0x5a || socks[0].CgroupID != 7 || socks[0].Unknown != 0 {
		t.Errorf("mark 0x5a, cgroup 7: %+v", socks)
	}
	// A TIME_WAIT socket has no cgroup, and its mark only where the
	// kernel reports it.
	socks, _, _, _ = parseDump(n, nlmsg(sockDiagByFam, 0, 9, diagMsg(unix.AF_INET, uint8(StateTimeWait), 3)), unix.IPPROTO_TCP)
	if len(socks) != 1 || socks[0].Unknown != FieldMark || socks[0].CgroupID != 0 {
		t.Errorf("TIME_WAIT without a mark: %+v", socks)
	}
	socks, _, _, _ = parseDump(n, nlmsg(sockDiagByFam, 0, 9, append(diagMsg(unix.AF_INET, uint8(StateTimeWait), 3), rtattr(inetDiagMark, ne32b(3))...)), unix.IPPROTO_TCP)
	if len(socks) != 1 || socks[0].Unknown != 0 || socks[0].Mark != 3 {
		t.Errorf("TIME_WAIT with mark 3: %+v", socks)
	}

	// UDP TCP_CLOSE is UNCONN; a timer of 0 leaves TimerLeft 0.
	socks, _, _, _ = parseDump(n, nlmsg(sockDiagByFam, 0, 9, diagMsg(unix.AF_INET, uint8(StateClosed), 0)), unix.IPPROTO_UDP)
	if len(socks) != 1 || socks[0].State != StateUnconn || socks[0].Proto != UDP || socks[0].TimerLeft != 0 {
		t.Errorf("UDP close: %+v", socks)
	}

	// NLM_F_DUMP_INTR on any message marks the dump interrupted.
	_, _, intr, _ = parseDump(n, nlmsg(sockDiagByFam, unix.NLM_F_MULTI|unix.NLM_F_DUMP_INTR, 9, diagMsg(unix.AF_INET, 1, 0)), unix.IPPROTO_TCP)
	if !intr {
		t.Errorf("NLM_F_DUMP_INTR not noticed")
	}

	// A kernel error comes back as its errno.
	e := make([]byte, 4)
	binary.NativeEndian.PutUint32(e, uint32(0x100000000-int64(unix.ENOENT)))
	if _, _, _, err := parseDump(n, nlmsg(unix.NLMSG_ERROR, 0, 9, e), unix.IPPROTO_TCP); !errors.Is(err, unix.ENOENT) {
		t.Errorf("NLMSG_ERROR: %v, want ENOENT", err)
	}

	// Garbage is an error naming what is wrong, not a panic.
	bad := nlmsg(sockDiagByFam, 0, 9, diagMsg(unix.AF_INET, 1, 0))
	binary.NativeEndian.PutUint32(bad, 9999)
	if _, _, _, err := parseDump(n, bad, unix.IPPROTO_TCP); err == nil || !strings.Contains(err.Error(), "length") {
		t.Errorf("oversized length: %v", err)
	}
	if _, _, _, err := parseDump(n, nlmsg(sockDiagByFam, 0, 9, make([]byte, 20)), unix.IPPROTO_TCP); err == nil {
		t.Errorf("short inet_diag_msg accepted")
	}
}

// TestSnapshotTCPInfoOption: with Options.TCPInfo every TCP socket that has
// tcp_info carries it, and a socket carried by the data path has an RTT.
func TestSnapshotTCPInfoOption(t *testing.T) {
	t.Parallel()
	c, s, _ := pairTCP(t, unix.AF_INET)
	if _, err := unix.Write(c.fd, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := unix.Read(s.fd, buf); err != nil {
		t.Fatal(err)
	}
	n := NewNetlink(Options{TCPInfo: true, TCP: true, IPv4: true})
	t.Cleanup(func() { n.Close() })
	snap := waitSnapshot(t, n, func(sn *Snapshot) bool {
		x := findFD(t, sn, c)
		return x != nil && x.Info != nil && x.Info.BytesAcked >= 4
	})
	x := findFD(t, &snap, c)
	if x.Info.RTT <= 0 {
		t.Errorf("tcp_info of an active connection has RTT %v", x.Info.RTT)
	}
	plain := NewNetlink(Options{TCP: true, IPv4: true})
	t.Cleanup(func() { plain.Close() })
	snap, err := plain.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snap.Sockets {
		if s.Info != nil {
			t.Fatalf("tcp_info fetched although not asked: %v", s.Local)
		}
	}
}
