package events

import (
	"bytes"
	"sync"
)

// commMax bounds the command names kept; past it the cache starts over,
// so that a host spawning ever new names does not grow it without end.
const commMax = 1024

// commNames interns command names, so that decoding an event does not
// allocate a string for a name seen before: the tasks that change TCP
// states are mostly the same few programs and softirq's interrupted
// ones.
type commNames struct {
	mu sync.Mutex
	m  map[[16]byte]string
}

// comms is shared by the readers of the package: a stream has one, and
// the lock is taken once an event.
var comms commNames

// name returns b, a command name up to its first NUL, as a string; "" for
// an empty name and for the trace's "<...>" (a name the kernel did not
// keep).
func (c *commNames) name(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 || string(b) == "<...>" {
		return ""
	}
	if len(b) > 16 {
		return string(b)
	}
	var k [16]byte
	copy(k[:], b)
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[k]; ok {
		return s
	}
	if c.m == nil || len(c.m) >= commMax {
		c.m = make(map[[16]byte]string, 64)
	}
	s := string(b)
	c.m[k] = s
	return s
}
