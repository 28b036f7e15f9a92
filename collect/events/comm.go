package events

import "bytes"

// commMax bounds the command names kept; past it the cache starts over,
// so that a host spawning ever new names does not grow it without end.
const commMax = 1024

// commNames interns command names, so that decoding an event does not
// allocate a string for a name seen before: the tasks that change TCP
// states are mostly the same few programs and softirq's interrupted
// ones. Each reader has its own, used by its run goroutine only, so it
// takes no lock.
type commNames struct {
	m map[[16]byte]string
	// The last name returned: runs of events from one task are common.
	last  [16]byte
	lastS string
	// tgid, when set, gives the process and command name of a thread id
	// the trace printed without them; 0 and "" when they cannot be told
	// (the thread is gone).
	tgid func(tid uint32) (uint32, string)
}

// name returns b, a command name up to its first NUL, as a string; "" for
// an empty name and for the trace's "<...>" (a name the kernel did not
// keep). A nil c interns nothing.
func (c *commNames) name(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 || string(b) == "<...>" {
		return ""
	}
	if c == nil || len(b) > 16 {
		return string(b)
	}
	var k [16]byte
	copy(k[:], b)
	if k == c.last && c.lastS != "" {
		return c.lastS
	}
	s, ok := c.m[k]
	if ok {
		c.last, c.lastS = k, s
		return s
	}
	if c.m == nil || len(c.m) >= commMax {
		c.m = make(map[[16]byte]string, 64)
	}
	s = string(b)
	c.m[k] = s
	c.last, c.lastS = k, s
	return s
}

// parseStatus reads the Tgid and Name lines of a /proc/PID/status text;
// 0 and "" for a line it has not.
func parseStatus(b []byte) (tgid uint32, name string) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if v, ok := bytes.CutPrefix(line, []byte("Name:")); ok {
			name = string(bytes.TrimSpace(v))
		}
		if v, ok := bytes.CutPrefix(line, []byte("Tgid:")); ok {
			if n, ok := parseDecimal(bytes.TrimSpace(v)); ok && n > 0 && n <= 1<<22 {
				tgid = uint32(n)
			}
			return tgid, name // Name comes first
		}
	}
	return tgid, name
}
