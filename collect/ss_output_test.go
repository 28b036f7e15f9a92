package collect

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ssLine is one line of `ss -tanuHeOo` (or of a narrower ss run: a single
// state drops the State column, a single protocol the Netid column).
type ssLine struct {
	proto        Proto
	state        string // "" when ss left the column out
	recvQ, sendQ uint32
	local, peer  netip.AddrPort
	// localDev and peerDev are the %iface zones ss prints after a socket
	// bound to a device; the address itself is left without a zone.
	localDev, peerDev string
	uid, ino          uint32
	cookie            uint64
	timer             string // "" when ss printed no timer
	timerLeft         time.Duration
	retrans           int
	fwmark            uint32
	cgroup            string
	v6only            int    // -1 when ss did not say
	shutdown          string // "<->", "-->", "<--", "---"; "" when not printed
}

// ssStates are the state names ss prints (sstate_name in ss.c).
var ssStates = map[string]bool{
	"UNKNOWN": true, "ESTAB": true, "SYN-SENT": true, "SYN-RECV": true,
	"FIN-WAIT-1": true, "FIN-WAIT-2": true, "TIME-WAIT": true, "UNCONN": true,
	"CLOSE-WAIT": true, "LAST-ACK": true, "LISTEN": true, "CLOSING": true,
}

// parseSS reads ss's one-line output. It is the oracle's parser, so it is
// strict: a token it does not know is an error, not a skip. proto is the
// protocol of lines without a Netid column (ss -t or -u alone with a
// single state); 0 when every line must carry one.
func parseSS(b []byte, proto Proto) ([]ssLine, error) {
	var out []ssLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		l, err := parseSSLine(sc.Text(), proto)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

// parseSSLine reads one line; see parseSS.
func parseSSLine(line string, proto Proto) (ssLine, error) {
	f := strings.Fields(line)
	l := ssLine{proto: proto, v6only: -1}
	bad := func(format string, args ...any) (ssLine, error) {
		return ssLine{}, fmt.Errorf("ss line %q: %s", line, fmt.Sprintf(format, args...))
	}
	if len(f) > 0 {
		switch f[0] {
		case "tcp":
			l.proto, f = TCP, f[1:]
		case "udp":
			l.proto, f = UDP, f[1:]
		}
	}
	if l.proto == 0 {
		return bad("no netid")
	}
	if len(f) > 0 && ssStates[f[0]] {
		l.state, f = f[0], f[1:]
	}
	if len(f) < 4 {
		return bad("too few columns")
	}
	rq, err1 := strconv.ParseUint(f[0], 10, 32)
	sq, err2 := strconv.ParseUint(f[1], 10, 32)
	local, ldev, err3 := parseSSAddr(f[2])
	peer, pdev, err4 := parseSSAddr(f[3])
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			return bad("%v", err)
		}
	}
	l.recvQ, l.sendQ, l.local, l.peer, l.localDev, l.peerDev = uint32(rq), uint32(sq), local, peer, ldev, pdev
	inCgroup := false
	for _, tok := range f[4:] {
		switch tok {
		case "<->", "-->", "<--", "---":
			l.shutdown, inCgroup = tok, false
			continue
		}
		k, v, ok := strings.Cut(tok, ":")
		var err error
		switch {
		case ok && k == "timer":
			err = l.parseTimer(v)
		case ok && k == "uid":
			l.uid, err = parseU32(v, 10)
		case ok && k == "ino":
			l.ino, err = parseU32(v, 10)
		case ok && k == "sk":
			l.cookie, err = strconv.ParseUint(v, 16, 64)
		case ok && k == "fwmark":
			l.fwmark, err = parseU32(strings.TrimPrefix(v, "0x"), 16)
		case ok && k == "cgroup":
			l.cgroup, inCgroup = v, true
			continue
		case ok && k == "v6only":
			l.v6only, err = strconv.Atoi(v)
			if err == nil && l.v6only != 0 && l.v6only != 1 {
				err = fmt.Errorf("v6only %d", l.v6only)
			}
		case inCgroup:
			// A cgroup path with a space in it: ss prints it as is, and
			// only v6only and the shutdown mark come after it.
			l.cgroup += " " + tok
			continue
		default:
			return bad("unknown token %q", tok)
		}
		inCgroup = false
		if err != nil {
			return bad("token %q: %v", tok, err)
		}
	}
	return l, nil
}

func parseU32(s string, base int) (uint32, error) {
	n, err := strconv.ParseUint(s, base, 32)
	return uint32(n), err
}

// parseTimer reads "(keepalive,14sec,0)"; ss prints an empty time for a
// timer that is due ("(on,,0)").
func (l *ssLine) parseTimer(v string) error {
	if !strings.HasPrefix(v, "(") || !strings.HasSuffix(v, ")") {
		return fmt.Errorf("timer %q", v)
	}
	parts := strings.Split(v[1:len(v)-1], ",")
	if len(parts) != 3 {
		return fmt.Errorf("timer %q", v)
	}
	switch parts[0] {
	case "off", "on", "keepalive", "timewait", "persist", "unknown":
	default:
		return fmt.Errorf("timer kind %q", parts[0])
	}
	d, err := parseSSDuration(parts[1])
	if err != nil {
		return err
	}
	r, err := strconv.Atoi(parts[2])
	if err != nil {
		return err
	}
	l.timer, l.timerLeft, l.retrans = parts[0], d, r
	return nil
}

// parseSSDuration reads ss's print_ms_timer format: [Nmin][S(sec|.)][MMMms],
// so "5.080ms" is 5.08 s, "14sec" is 14 s, "1min5sec" is 65 s.
func parseSSDuration(s string) (time.Duration, error) {
	orig := s
	var d time.Duration
	num := func() (int, error) {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		n, err := strconv.Atoi(s[:i])
		s = s[i:]
		return n, err
	}
	for s != "" {
		n, err := num()
		if err != nil {
			return 0, fmt.Errorf("ss duration %q: %w", orig, err)
		}
		switch {
		case strings.HasPrefix(s, "min"):
			d += time.Duration(n) * time.Minute
			s = s[3:]
		case strings.HasPrefix(s, "sec"):
			d += time.Duration(n) * time.Second
			s = s[3:]
		case strings.HasPrefix(s, "."):
			d += time.Duration(n) * time.Second
			s = s[1:]
		case strings.HasPrefix(s, "ms"):
			d += time.Duration(n) * time.Millisecond
			s = s[2:]
		default:
			return 0, fmt.Errorf("ss duration %q", orig)
		}
	}
	return d, nil
}

// parseSSAddr reads an endpoint as ss prints it: 127.0.0.1:80, [::1]:80,
// [::ffff:127.0.0.1]:80, 0.0.0.0:*, [::]:*, *:80 and *:* (a dual-stack
// IPv6 socket, v6only off, read as [::]), and any of those with a %iface
// zone after the address (127.0.0.53%lo:53, [fe80::1]%eth0:22, *%lo:68).
// A "*" port is 0. The zone is returned apart.
func parseSSAddr(s string) (netip.AddrPort, string, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return netip.AddrPort{}, "", fmt.Errorf("address %q has no port", s)
	}
	host, port := s[:i], s[i+1:]
	var dev string
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return netip.AddrPort{}, "", fmt.Errorf("address %q: no ]", s)
		}
		rest := host[end+1:]
		host = host[1:end]
		if rest != "" {
			if rest[0] != '%' || len(rest) == 1 {
				return netip.AddrPort{}, "", fmt.Errorf("address %q: %q after ]", s, rest)
			}
			dev = rest[1:]
		}
		if !strings.Contains(host, ":") {
			return netip.AddrPort{}, "", fmt.Errorf("address %q: brackets around a non-IPv6 address", s)
		}
	} else {
		if j := strings.IndexByte(host, '%'); j >= 0 {
			host, dev = host[:j], host[j+1:]
			if dev == "" {
				return netip.AddrPort{}, "", fmt.Errorf("address %q: empty zone", s)
			}
		}
		if strings.Contains(host, ":") {
			return netip.AddrPort{}, "", fmt.Errorf("address %q: IPv6 without brackets", s)
		}
	}
	var a netip.Addr
	if host == "*" {
		a = netip.IPv6Unspecified()
	} else {
		var err error
		if a, err = netip.ParseAddr(host); err != nil {
			return netip.AddrPort{}, "", fmt.Errorf("address %q: %w", s, err)
		}
		if a.Zone() != "" {
			return netip.AddrPort{}, "", fmt.Errorf("address %q: zone inside the brackets", s)
		}
	}
	p := uint64(0)
	if port != "*" {
		var err error
		if p, err = strconv.ParseUint(port, 10, 16); err != nil {
			return netip.AddrPort{}, "", fmt.Errorf("address %q: port: %w", s, err)
		}
	}
	return netip.AddrPortFrom(a, uint16(p)), dev, nil
}

func TestParseSSDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"796ms":    796 * time.Millisecond,
		"5.080ms":  5080 * time.Millisecond,
		"14sec":    14 * time.Second,
		"1min5sec": 65 * time.Second,
		"12min":    12 * time.Minute,
		"":         0,
	} {
		got, err := parseSSDuration(in)
		if err != nil || got != want {
			t.Errorf("parseSSDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseSSDuration("5parsecs"); err == nil {
		t.Errorf("parseSSDuration accepted garbage")
	}
}

// TestParseSSLines reads lines captured from ss 6.1 (-tanuHeOo, and the
// narrower forms with one state or one protocol) on a host with a
// dual-stack listener, a v6only one, a socket bound to lo, a marked one,
// an IPv4-mapped pair, orphans and half-closed connections.
func TestParseSSLines(t *testing.T) {
	ap := netip.MustParseAddrPort
	cases := []struct {
		line  string
		proto Proto
		want  ssLine
	}{
		{"udp UNCONN     0      0                       *:57166                  *:*     ino:191476 sk:15899 cgroup:/ v6only:0 <->   ", 0,
			ssLine{proto: UDP, state: "UNCONN", local: ap("[::]:57166"), peer: ap("[::]:0"), ino: 191476, cookie: 0x15899, cgroup: "/", v6only: 0, shutdown: "<->"}},
		{"tcp LISTEN     0      128             127.0.0.1:41089            0.0.0.0:*     ino:191475 sk:1679a fwmark:0x2a cgroup:/ <->", 0,
			ssLine{proto: TCP, state: "LISTEN", sendQ: 128, local: ap("127.0.0.1:41089"), peer: ap("0.0.0.0:0"), ino: 191475, cookie: 0x1679a, fwmark: 0x2a, cgroup: "/", v6only: -1, shutdown: "<->"}},
		{"tcp LISTEN     1      128          127.0.0.1%lo:42891            0.0.0.0:*     ino:191474 sk:1679b cgroup:/ <->            ", 0,
			ssLine{proto: TCP, state: "LISTEN", recvQ: 1, sendQ: 128, local: ap("127.0.0.1:42891"), localDev: "lo", peer: ap("0.0.0.0:0"), ino: 191474, cookie: 0x1679b, cgroup: "/", v6only: -1, shutdown: "<->"}},
		{"tcp FIN-WAIT-2 0      0               127.0.0.1:57166          127.0.0.1:55465 timer:(timewait,5.164ms,0) ino:0 sk:1099c   ", 0,
			ssLine{proto: TCP, state: "FIN-WAIT-2", local: ap("127.0.0.1:57166"), peer: ap("127.0.0.1:55465"), cookie: 0x1099c, timer: "timewait", timerLeft: 5164 * time.Millisecond, v6only: -1}},
		{"tcp CLOSE-WAIT 1      0               127.0.0.1:55465          127.0.0.1:57166 ino:153079 sk:109e4 cgroup:/ -->            ", 0,
			ssLine{proto: TCP, state: "CLOSE-WAIT", recvQ: 1, local: ap("127.0.0.1:55465"), peer: ap("127.0.0.1:57166"), ino: 153079, cookie: 0x109e4, cgroup: "/", v6only: -1, shutdown: "-->"}},
		{"tcp LISTEN     0      128                  [::]:50993               [::]:*     ino:191473 sk:1679d cgroup:/ v6only:1 <->   ", 0,
			ssLine{proto: TCP, state: "LISTEN", sendQ: 128, local: ap("[::]:50993"), peer: ap("[::]:0"), ino: 191473, cookie: 0x1679d, cgroup: "/", v6only: 1, shutdown: "<->"}},
		{"tcp CLOSE-WAIT 1      0      [::ffff:127.0.0.1]:33803 [::ffff:127.0.0.1]:51784 ino:191479 sk:16797 cgroup:/ -->            ", 0,
			ssLine{proto: TCP, state: "CLOSE-WAIT", recvQ: 1, local: ap("[::ffff:127.0.0.1]:33803"), peer: ap("[::ffff:127.0.0.1]:51784"), ino: 191479, cookie: 0x16797, cgroup: "/", v6only: -1, shutdown: "-->"}},
		{"tcp ESTAB 0 0 192.168.1.10:22 192.168.1.20:50312 timer:(keepalive,119min,0) uid:1000 ino:4242 sk:ffff8e3a cgroup:/system.slice/ssh.service <->", 0,
			ssLine{proto: TCP, state: "ESTAB", local: ap("192.168.1.10:22"), peer: ap("192.168.1.20:50312"), timer: "keepalive", timerLeft: 119 * time.Minute, uid: 1000, ino: 4242, cookie: 0xffff8e3a, cgroup: "/system.slice/ssh.service", v6only: -1, shutdown: "<->"}},
		{"tcp SYN-RECV 0 0 [fe80::1]%eth0:22 [fe80::2]%eth0:40000 timer:(on,,1) ino:0 sk:7", 0,
			ssLine{proto: TCP, state: "SYN-RECV", local: ap("[fe80::1]:22"), localDev: "eth0", peer: ap("[fe80::2]:40000"), peerDev: "eth0", timer: "on", retrans: 1, cookie: 7, v6only: -1}},
		{"udp UNCONN 0 0 127.0.0.53%lo:53 0.0.0.0:* uid:991 ino:2001 sk:3 cgroup:/a b/c v6only:0 ---", 0,
			ssLine{proto: UDP, state: "UNCONN", local: ap("127.0.0.53:53"), localDev: "lo", peer: ap("0.0.0.0:0"), uid: 991, ino: 2001, cookie: 3, cgroup: "/a b/c", v6only: 0, shutdown: "---"}},
		{"udp UNCONN 0 0 *%lo:68 *:* ino:9 sk:a", 0,
			ssLine{proto: UDP, state: "UNCONN", local: ap("[::]:68"), localDev: "lo", peer: ap("[::]:0"), ino: 9, cookie: 0xa, v6only: -1}},
		{"tcp TIME-WAIT 0 0 [::1]:8080 [::1]:41000 timer:(timewait,59sec,0) ino:0 sk:1f", 0,
			ssLine{proto: TCP, state: "TIME-WAIT", local: ap("[::1]:8080"), peer: ap("[::1]:41000"), timer: "timewait", timerLeft: 59 * time.Second, cookie: 0x1f, v6only: -1}},
		{"tcp ESTAB 0 4096 127.0.0.1:5 127.0.0.1:6 timer:(persist,1.200ms,3) ino:5 sk:1 <--", 0,
			ssLine{proto: TCP, state: "ESTAB", sendQ: 4096, local: ap("127.0.0.1:5"), peer: ap("127.0.0.1:6"), timer: "persist", timerLeft: 1200 * time.Millisecond, retrans: 3, ino: 5, cookie: 1, v6only: -1, shutdown: "<--"}},
		// ss -tanuH state established: no State column.
		{"tcp 0      0            127.0.0.1%lo:42891 127.0.0.1:57250 ino:0 sk:1679c cgroup:/ <->", 0,
			ssLine{proto: TCP, local: ap("127.0.0.1:42891"), localDev: "lo", peer: ap("127.0.0.1:57250"), cookie: 0x1679c, cgroup: "/", v6only: -1, shutdown: "<->"}},
		// ss -tanH state established: no Netid column either.
		{"0      0         127.0.0.1:57250 127.0.0.1:42891 ino:191480 sk:15898 cgroup:/ -->", TCP,
			ssLine{proto: TCP, local: ap("127.0.0.1:57250"), peer: ap("127.0.0.1:42891"), ino: 191480, cookie: 0x15898, cgroup: "/", v6only: -1, shutdown: "-->"}},
		// ss -tanH with no -e: the addresses are the last columns.
		{"LISTEN 0 4096 *:9555 *:*", TCP,
			ssLine{proto: TCP, state: "LISTEN", sendQ: 4096, local: ap("[::]:9555"), peer: ap("[::]:0"), v6only: -1}},
	}
	for _, c := range cases {
		got, err := parseSSLine(c.line, c.proto)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if got != c.want {
			t.Errorf("parseSSLine(%q)\n got %+v\nwant %+v", c.line, got, c.want)
		}
	}
	for _, line := range []string{
		"tcp LISTEN 0 128 127.0.0.1:80",                    // no peer
		"tcp LISTEN 0 128 127.0.0.1:80 0.0.0.0:* ino:x",    // bad inode
		"tcp LISTEN 0 128 127.0.0.1:80 0.0.0.0:* tos:0x10", // unknown token
		"tcp LISTEN 0 128 ::1:80 :::*",                     // IPv6 without brackets
		"tcp LISTEN 0 128 [127.0.0.1]:80 0.0.0.0:*",        // brackets around IPv4
		"tcp LISTEN 0 128 127.0.0.1:99999 0.0.0.0:*",       // port out of range
		"tcp LISTEN 0 128 [::1]x:80 [::]:*",                // junk after ]
		"tcp LISTEN 0 128 127.0.0.1%:80 0.0.0.0:*",         // empty zone
		"tcp ESTAB 0 0 127.0.0.1:1 127.0.0.1:2 timer:(on,1sec)",
		"tcp ESTAB 0 0 127.0.0.1:1 127.0.0.1:2 timer:(nap,1sec,0)",
		"tcp ESTAB 0 0 127.0.0.1:1 127.0.0.1:2 v6only:2",
		"sctp ESTAB 0 0 127.0.0.1:1 127.0.0.1:2",
		"0 0 127.0.0.1:1 127.0.0.1:2", // no netid and none given
	} {
		if l, err := parseSSLine(line, 0); err == nil {
			t.Errorf("parseSSLine(%q) accepted: %+v", line, l)
		}
	}
}
