package collect

import (
	"encoding/binary"
	"math/rand/v2"
)

// connIndex finds conns by Key through a 64-bit hash of the Key, the
// conns of one hash chained through conn.hnext. A Go map keyed by Key
// hashes all 72 bytes of it on every lookup, and the tracker looks one up
// for every sampled transition. The zero value is empty and ready.
type connIndex struct {
	seed uint64
	m    map[uint64]*conn
	n    int
}

// hash mixes the Key's words with a per-index seed, as Diff's table does,
// so that peers choosing addresses and ports cannot make chains long.
func (x *connIndex) hash(k *Key) uint64 {
	l, r := k.Local.Addr(), k.Remote.Addr()
	lb, rb := l.As16(), r.As16()
	meta := uint64(k.Local.Port())<<48 | uint64(k.Remote.Port())<<32 | uint64(k.Proto)<<8 | addrKind(l) | addrKind(r)<<2
	meta |= uint64(k.NetNS&0xffff) << 16
	meta ^= uint64(k.Inode) << 32
	d := dkey{
		lhi: binary.BigEndian.Uint64(lb[:8]), llo: binary.BigEndian.Uint64(lb[8:]),
		rhi: binary.BigEndian.Uint64(rb[:8]), rlo: binary.BigEndian.Uint64(rb[8:]),
		meta: meta,
	}
	return (&differ{seed: x.seed}).hash(&d)
}

// get returns the conn of k, or nil.
func (x *connIndex) get(k Key) *conn {
	if x.n == 0 {
		return nil
	}
	for c := x.m[x.hash(&k)]; c != nil; c = c.hnext {
		if c.key == k {
			return c
		}
	}
	return nil
}

// put makes c the conn of its Key, and returns the one it replaced.
func (x *connIndex) put(c *conn) *conn {
	if x.m == nil {
		x.m = map[uint64]*conn{}
		x.seed = rand.Uint64() | 1
	}
	h := x.hash(&c.key)
	head := x.m[h]
	var prev *conn
	for o := head; o != nil; prev, o = o, o.hnext {
		if o.key != c.key {
			continue
		}
		if o == c {
			return nil
		}
		c.hnext = o.hnext
		o.hnext = nil
		if prev == nil {
			x.m[h] = c
		} else {
			prev.hnext = c
		}
		return o
	}
	c.hnext = head
	x.m[h] = c
	x.n++
	return nil
}

// remove takes c out if it is the conn of its Key.
func (x *connIndex) remove(c *conn) {
	if x.n == 0 {
		return
	}
	h := x.hash(&c.key)
	var prev *conn
	for o := x.m[h]; o != nil; prev, o = o, o.hnext {
		if o != c {
			continue
		}
		switch {
		case prev != nil:
			prev.hnext = c.hnext
		case c.hnext != nil:
			x.m[h] = c.hnext
		default:
			delete(x.m, h)
		}
		c.hnext = nil
		x.n--
		return
	}
}

// each calls f on every conn; f must not change the index.
func (x *connIndex) each(f func(*conn)) {
	for _, head := range x.m {
		for c := head; c != nil; c = c.hnext {
			f(c)
		}
	}
}

// shrink rebuilds the map sized for what it holds.
func (x *connIndex) shrink() { x.m = rebuilt(x.m) }
